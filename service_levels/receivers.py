"""What the service levels do when the conversations' writers announce a change
(conversations.signals, after commit). Each receiver is a few set-based statements, and uses the
instant of the change (the messages' or events' time) as its clock."""

from __future__ import annotations

from django.db.models import Max
from django.dispatch import receiver

from conversations import services, signals
from conversations.models import Conversation, Event, Message
from service_levels import csat, responders, sla

STATUS_CHANGES = {Event.Kind.STATUS_CHANGED.value, Event.Kind.AUTO_RESOLVED.value, "snoozed"}
TAG_CHANGES = {Event.Kind.TAG_ADDED.value, Event.Kind.TAG_REMOVED.value}


@receiver(signals.message_received, dispatch_uid="service_levels.received")
def on_message_received(
    sender, message_ids, created_conversation_ids=(), reopened_conversation_ids=(), **kwargs
):
    messages = list(
        Message.objects.filter(pk__in=list(message_ids), direction=Message.Direction.INBOUND)
        .select_related("conversation")
        .order_by("created_at", "id")
    )
    if not messages:
        return
    at: dict[int, object] = {}
    for message in messages:
        at[message.conversation_id] = message.created_at  # the latest wins (ordered)
    now = max(at.values())
    if reopened_conversation_ids:
        csat.on_reopened(reopened_conversation_ids)
    # A survey answer (or its comment) arrives after the resolve, so it opened a conversation of
    # its own: the system resolves that one at once; it starts no clock and gets no auto-reply.
    answered = csat.on_customer_messages(messages, now=now) & set(created_conversation_ids)
    if answered:
        services.resolve_survey_answers(answered, now=now)
        at = {conv_id: t for conv_id, t in at.items() if conv_id not in answered}
        if not at:
            return
    opened = [i for i in created_conversation_ids if i not in answered]
    sla.on_customer_messages(at, opened=opened, now=now)
    responders.respond(
        at,
        opened=opened,
        now=now,
        channel_ids={m.channel_id for m in messages if m.conversation_id in at},
    )


@receiver(signals.message_sent, dispatch_uid="service_levels.sent")
def on_message_sent(sender, message_ids, author_id=None, **kwargs):
    if author_id is None:
        return  # the system's own messages (auto-replies, surveys) answer nobody
    replies: dict[int, tuple] = {}
    for conv_id, created_at in (
        Message.objects.filter(pk__in=list(message_ids))
        .order_by("created_at")
        .values_list("conversation_id", "created_at")
    ):
        replies.setdefault(conv_id, (created_at, author_id))  # the first reply counts
    sla.on_desk_replies(replies)


@receiver(signals.conversation_changed, dispatch_uid="service_levels.changed")
def on_conversation_changed(sender, conversation_ids, change="", actor_id=None, at=None, **kwargs):
    ids = list(conversation_ids)
    if change not in STATUS_CHANGES and change not in TAG_CHANGES:
        return
    # A batch writer (auto-resolve) says when; otherwise the change's own event says it.
    now = at or (
        Event.objects.filter(conversation_id__in=ids, kind=change).aggregate(at=Max("created_at"))[
            "at"
        ]
        or Conversation.objects.filter(pk__in=ids).aggregate(at=Max("last_activity_at"))["at"]
    )
    if now is None:
        return
    if change in TAG_CHANGES:
        sla.on_tags_changed(ids, now=now)
        return
    sla.on_status_changed(ids, now=now)
    if change == Event.Kind.AUTO_RESOLVED:
        return  # resolved by the system: nothing reopened, and surveys follow an agent's resolve
    statuses = dict(Conversation.objects.filter(pk__in=ids).values_list("id", "status"))
    csat.on_reopened([i for i, s in statuses.items() if s in Conversation.OPEN])
    csat.on_resolved([i for i, s in statuses.items() if s == Conversation.Status.RESOLVED], now=now)
