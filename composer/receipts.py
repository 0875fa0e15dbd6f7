"""Read receipts and the typing indicator (issue 16 item 5; docs/composer.md).

Each channel says when the customer's messages are marked read (``Channel.read_receipts``):
when an agent opens the conversation, when an agent replies, or never. A receipt names the
latest customer message (WhatsApp marks it and every earlier one) and is sent at most once per
conversation per ``RECEIPT_INTERVAL``, claimed with a conditional UPDATE so that two agents or
two tabs opening the page at once send one. The typing indicator is the same call with
``typing_indicator`` (so it marks read too): it is shown while an agent writes, unless the
channel never marks read, at most once per ``TYPING_INTERVAL`` (WhatsApp shows it ~25 s).

The calls leave through a Celery task (``composer.tasks.mark_read``): a page view never waits
for WhatsApp. A receipt is a courtesy, not a message: a failed one is logged and not retried.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from channels_app.models import Channel
from composer.models import ReadState
from composer.tasks import mark_read
from conversations.models import Conversation, Message

logger = logging.getLogger(__name__)

RECEIPT_INTERVAL = timedelta(seconds=10)
TYPING_INTERVAL = timedelta(seconds=20)
Policy = Channel.ReadReceipts


def latest_inbound_wamid(conversation_id: int) -> str:
    """The provider id of the customer's latest message in the conversation ("" if none)."""
    wamid = (
        Message.objects.filter(
            conversation_id=conversation_id,
            direction=Message.Direction.INBOUND,
            via=Message.Via.DESK,
            provider_message_id__startswith="wamid.",
        )
        .order_by("-created_at", "-id")
        .values_list("provider_message_id", flat=True)
        .first()
    )
    return wamid or ""


def _state(conversation_id: int) -> None:
    if not ReadState.objects.filter(pk=conversation_id).exists():
        try:
            with transaction.atomic():
                ReadState.objects.create(conversation_id=conversation_id)
        except IntegrityError:
            pass  # created meanwhile by another request


def _claim_receipt(conversation_id: int, wamid: str, now: datetime) -> bool:
    """Whether this caller sends the receipt for ``wamid`` (not sent yet, none in 10 s)."""
    _state(conversation_id)
    due = Q(marked_at__isnull=True) | Q(marked_at__lte=now - RECEIPT_INTERVAL)
    return bool(
        ReadState.objects.filter(due, pk=conversation_id)
        .exclude(marked_wamid=wamid)
        .update(marked_at=now, marked_wamid=wamid)
    )


def _claim_typing(conversation_id: int, now: datetime) -> bool:
    _state(conversation_id)
    due = Q(typing_at__isnull=True) | Q(typing_at__lte=now - TYPING_INTERVAL)
    return bool(ReadState.objects.filter(due, pk=conversation_id).update(typing_at=now))


def _send(conversation_id: int, wamid: str, *, typing: bool) -> None:
    try:
        mark_read.delay(conversation_id, wamid, typing)
    except Exception as exc:  # broker down: a receipt is not worth an error page
        logger.warning("read receipt of conversation %s not queued: %s", conversation_id, exc)


def opened(conversation: Conversation, *, now: datetime | None = None) -> bool:
    """An agent opened the conversation: mark the customer's messages read when the channel
    says "on open". True when a receipt was queued."""
    if conversation.channel.read_receipts != Policy.ON_OPEN:
        return False
    return _mark(conversation.pk, now=now or timezone.now())


def replied(conversation_id: int, *, policy: str, now: datetime | None = None) -> bool:
    """An agent replied: mark read unless the channel never does."""
    if policy == Policy.NEVER:
        return False
    return _mark(conversation_id, now=now or timezone.now())


def _mark(conversation_id: int, *, now: datetime) -> bool:
    wamid = latest_inbound_wamid(conversation_id)
    if not wamid or not _claim_receipt(conversation_id, wamid, now):
        return False
    _send(conversation_id, wamid, typing=False)
    return True


def typing(conversation: Conversation, *, now: datetime | None = None) -> bool:
    """An agent is writing: show "typing…" (which marks read too) unless the channel never marks
    read or the reply window is closed (nothing could follow). True when one was queued."""
    now = now or timezone.now()
    if conversation.channel.read_receipts == Policy.NEVER or not conversation.is_window_open(now):
        return False
    wamid = latest_inbound_wamid(conversation.pk)
    if not wamid or not _claim_typing(conversation.pk, now):
        return False
    ReadState.objects.filter(pk=conversation.pk).update(marked_at=now, marked_wamid=wamid)
    _send(conversation.pk, wamid, typing=True)
    return True


def on_message_sent(sender, *, message_ids, author_id=None, **kwargs) -> None:
    """conversations.signals.message_sent: an agent's reply marks read ("on reply" and "on
    open" channels alike; an "on open" one usually has already)."""
    if author_id is None:
        return
    rows = (
        Message.objects.filter(pk__in=message_ids, direction=Message.Direction.OUTBOUND)
        .values_list("conversation_id", "channel__read_receipts")
        .distinct()
    )
    for conversation_id, policy in rows:
        replied(conversation_id, policy=policy)
