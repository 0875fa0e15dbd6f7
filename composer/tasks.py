"""Celery tasks of the composer: thin wrappers that take ids and call the channel's transport
once (channels_app.transports)."""

import logging

from celery import shared_task

from channels_app import transports
from channels_app.models import Channel
from channels_app.whatsapp.errors import WhatsAppError

logger = logging.getLogger(__name__)


@shared_task(name="composer.tasks.mark_read")
def mark_read(conversation_id: int, wamid: str, typing: bool = False) -> str:
    """Mark the customer's messages read up to ``wamid`` (and show "typing…" with ``typing``).

    Best effort: a failure is logged, never retried (the next open, reply or keystroke sends a
    new one). Idempotent on WhatsApp's side.
    """
    channel = Channel.objects.filter(conversations__pk=conversation_id).first()
    if channel is None or not channel.phone_number_id:
        return "no channel"
    try:
        transports.for_channel(channel).mark_read(channel, message_id=wamid, typing=typing)
    except WhatsAppError as error:
        logger.warning(
            "read receipt of conversation %s failed: code=%s", conversation_id, error.code
        )
        return "failed"
    return "typing" if typing else "read"
