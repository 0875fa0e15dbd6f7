"""Celery tasks: thin wrappers that take ids, call one service, and own retries."""

from celery import shared_task


@shared_task(name="conversations.tasks.dispatch_message")
def dispatch_message(message_id: int) -> None:
    """Send one queued outbound message to the provider (implemented with the WhatsApp client)."""
    from conversations import outbound

    outbound.dispatch(message_id)


@shared_task(name="conversations.tasks.autoresolve")
def autoresolve() -> dict:
    """Resolve every conversation past its channel's New/Pending limit (beat, every 15 minutes).

    Idempotent: a second run at once skips on the advisory lock, a later one finds nothing due.
    """
    from django.utils import timezone

    from conversations import autoresolve as service

    return service.autoresolve(now=timezone.now()).as_dict()
