"""Celery tasks of the onboarding app: thin wrappers that call one service."""

from celery import shared_task


@shared_task(name="onboarding.tasks.check_overdue")
def check_overdue() -> dict:
    """Flag the steps past their expected wait in business days (beat: hourly). Idempotent."""
    from onboarding import services

    flagged, cleared = services.flag_overdue()
    return {"flagged": flagged, "cleared": cleared}
