"""Routing's reactions (connected in RoutingConfig.ready), each quick: a queue write and an
enqueue, never the routing itself (a Celery task does that, and the sweep covers a lost one).

- a customer's message opened or reopened a conversation, or one changed (moved, unassigned,
  assigned, resolved, snoozed): it joins or leaves the queue, the monitors refresh, and routing
  runs (an assignment ending frees capacity);
- a user signs out: Offline at once (routing.presence.signed_out).
"""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver
from django.utils import timezone

from config import db_features
from conversations import signals
from conversations.models import Conversation, Event, Message
from routing import live, presence, queue, tasks

# Changes that cannot start or end a wait, nor free capacity: nothing for routing to do.
IRRELEVANT = {
    Event.Kind.TAG_ADDED,
    Event.Kind.TAG_REMOVED,
    Event.Kind.NOTE_ADDED,
    Event.Kind.REPLY_FAILED,
    Event.Kind.REPLY_RETRIED,
}


def _react(conversation_ids, *, change: str = "") -> None:
    ids = list(conversation_ids)
    if not ids or change in IRRELEVANT:
        return
    if change in (Event.Kind.ASSIGNED, Event.Kind.AUTO_RESOLVED):
        # An assignment or a resolve ends a wait; nothing here can start one.
        queue.forget(ids)
    else:
        queue.enqueue(ids, now=timezone.now())
    channel_ids = set(
        Conversation.objects.filter(db_features.dialect().in_ids("pk", ids))
        .values_list("channel_id", flat=True)
        .distinct()
    )
    live.monitor_changed(channel_ids)
    if change != Event.Kind.ASSIGNED:
        tasks.route.delay()


@receiver(signals.message_received, dispatch_uid="routing.message_received")
def on_message_received(sender, *, message_ids=(), created_conversation_ids=(),
                        reopened_conversation_ids=(), **kwargs):  # fmt: skip
    ids = set(created_conversation_ids) | set(reopened_conversation_ids)
    # A Pending or snoozed conversation the customer answered is New again (unassigned ones wait).
    ids |= set(
        Message.objects.filter(pk__in=list(message_ids))
        .exclude(conversation_id__in=ids)
        .values_list("conversation_id", flat=True)
    )
    _react(ids)


@receiver(signals.conversation_changed, dispatch_uid="routing.conversation_changed")
def on_conversation_changed(sender, *, conversation_ids=(), change="", **kwargs):
    _react(conversation_ids, change=change)


@receiver(user_logged_out, dispatch_uid="routing.user_logged_out")
def on_logged_out(sender, request, user, **kwargs):
    if user is not None and user.is_authenticated:
        presence.signed_out(user)
