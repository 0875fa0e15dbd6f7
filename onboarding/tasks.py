"""Celery tasks of the onboarding app: thin wrappers that call one service."""

from celery import shared_task

from onboarding import services


@shared_task(name="onboarding.tasks.check_overdue")
def check_overdue() -> dict:
    """Flag the steps past their expected wait in business days (beat: hourly). Idempotent."""
    flagged, cleared = services.flag_overdue()
    return {"flagged": flagged, "cleared": cleared}
