"""Celery tasks of the API: thin wrappers that call one function."""

from celery import shared_task

from api import sending, webhooks


@shared_task(name="api.tasks.deliver_webhooks")
def deliver_webhooks() -> dict:
    """Post the outgoing webhooks that are due (beat, and right after events are written)."""
    return webhooks.deliver_due()


@shared_task(name="api.tasks.prune_idempotency")
def prune_idempotency() -> int:
    """Forget Idempotency-Key answers older than API_IDEMPOTENCY_TTL and webhook deliveries
    finished more than a week ago (beat, hourly)."""
    return sending.prune_idempotency() + webhooks.prune_finished()
