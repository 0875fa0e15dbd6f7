"""Celery tasks: thin wrappers that take ids, call one service, and own retries."""

from celery import shared_task


@shared_task(name="conversations.tasks.dispatch_message")
def dispatch_message(message_id: int) -> None:
    """Send one queued outbound message to the provider (implemented with the WhatsApp client)."""
    from conversations import outbound

    outbound.dispatch(message_id)
