"""Celery tasks of channels_app: thin wrappers that call one service."""

from celery import shared_task

from channels_app import template_services


@shared_task(name="channels_app.tasks.sync_templates")
def sync_templates() -> dict:
    """Pull every channel's message templates and review status from the API (beat, hourly)."""
    return template_services.sync_all_templates().as_dict()
