"""The conversations' after-commit signals, turned into outgoing webhook events.

conversation.created: a customer's message opened a conversation (``message_received``'s
``created_conversation_ids``), or the API opened one (``conversation_changed`` "opened").
conversation.resolved: a status change or auto-resolve left a conversation Resolved.
message.failed: a delivery change left an outbound message failed.

Each receiver writes outbox rows (one query for the rows it reads, one bulk insert) and asks a
worker to deliver them now; the beat sweep delivers them anyway if that request is lost.
"""

from __future__ import annotations

import logging

from api import webhooks
from api.models import WebhookSubscription
from api.payloads import conversation_data, message_data
from api.tasks import deliver_webhooks
from conversations import signals
from conversations.models import Conversation, Event, Message

log = logging.getLogger(__name__)
EventType = WebhookSubscription.EventType
RESOLVING_CHANGES = {Event.Kind.STATUS_CHANGED, Event.Kind.AUTO_RESOLVED, "status", "resolved"}


def _anyone_listening() -> bool:
    return WebhookSubscription.objects.filter(
        is_active=True, token__revoked_at__isnull=True
    ).exists()


def _publish(events: list) -> None:
    if events and webhooks.enqueue(events):
        try:
            deliver_webhooks.delay()
        except Exception:  # the broker is down: the beat sweep delivers them
            log.warning("could not queue the webhook delivery task; the sweep will deliver")


def _conversations(ids) -> list[Conversation]:
    return list(Conversation.objects.filter(pk__in=list(ids)).select_related("contact"))


def on_message_received(sender, *, created_conversation_ids=(), **kwargs) -> None:
    if not created_conversation_ids or not _anyone_listening():
        return
    _publish(
        [
            (c.channel_id, EventType.CONVERSATION_CREATED, {"conversation": conversation_data(c)})
            for c in _conversations(created_conversation_ids)
        ]
    )


def on_conversation_changed(sender, *, conversation_ids=(), change="", **kwargs) -> None:
    if not conversation_ids or not _anyone_listening():
        return
    if change == Event.Kind.OPENED:
        kind = EventType.CONVERSATION_CREATED
        chosen = _conversations(conversation_ids)
    elif change in RESOLVING_CHANGES:
        kind = EventType.CONVERSATION_RESOLVED
        chosen = [
            c for c in _conversations(conversation_ids)
            if c.status == Conversation.Status.RESOLVED
        ]  # fmt: skip
    else:
        return
    _publish([(c.channel_id, kind, {"conversation": conversation_data(c)}) for c in chosen])


def on_message_changed(sender, *, message_ids=(), change="", **kwargs) -> None:
    if change != "delivery" or not message_ids or not _anyone_listening():
        return
    failed = Message.objects.filter(
        pk__in=list(message_ids),
        direction=Message.Direction.OUTBOUND,
        delivery=Message.Delivery.FAILED,
    ).select_related("template")
    _publish(
        [(m.channel_id, EventType.MESSAGE_FAILED, {"message": message_data(m)}) for m in failed]
    )


def connect() -> None:
    signals.message_received.connect(on_message_received, dispatch_uid="api-webhooks")
    signals.conversation_changed.connect(on_conversation_changed, dispatch_uid="api-webhooks")
    signals.message_changed.connect(on_message_changed, dispatch_uid="api-webhooks")
