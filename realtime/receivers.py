"""What the live pages hear: conversations' announcements and access changes, as pushes.

Receivers of conversations.signals (after commit; ids only) load the conversations once, render
their inbox row once per language, and push one event per conversation to the channel's group:

``message``       new messages (``direction`` in/out, ``message_ids``, ``author_id``, the row)
``delivery``      ticks moved (``deliveries``: message id -> state, the state names per language)
``message_changed`` an edit, a revocation or a downloaded attachment (``message_ids``, the row)
``conversation``  status, assignee, tags, topics or notes changed (``change``, ``actor_id``, row)
``conversations`` more than BULK_ROWS conversations changed at once (an auto-resolve batch): one
                  push per channel with their ``ids``, ``count``, ``change`` and ``actor_id`` and
                  no rows; a page that shows any of them fetches its list once

Changes of access (grants, teams, the channels' All Users / All Teams switches, users' active
flag, admin permission) make the affected users' sockets join their groups again at once.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete

from channels_app.models import AccessGrant, Channel, Team
from config import db_features
from conversations import signals
from conversations.models import Conversation, Message
from realtime import bus, push, rows

# Above this many conversations in one announcement the rows are not rendered: rendering is ~3 ms
# per row and language in the writer's after-commit, which made each auto-resolve batch of 500
# take seconds (and 5M due rows hours); the pages refetch their list once instead.
BULK_ROWS = 50


def _by_conversation(message_ids) -> dict[int, list[tuple]]:
    found: dict[int, list[tuple]] = {}
    for pk, conversation_id, direction, author_id, delivery in (
        Message.objects.filter(pk__in=list(message_ids))
        .order_by("created_at", "pk")
        .values_list("pk", "conversation_id", "direction", "author_id", "delivery")
    ):
        found.setdefault(conversation_id, []).append((pk, direction, author_id, delivery))
    return found


def _push_rows(conversation_ids, kind: str, extra) -> None:
    """One push per conversation: ``extra(conversation)`` merged into its row's values; all of
    them published at once at the end (``bus.batched``)."""
    with bus.batched():
        for conversation in rows.load(conversation_ids):
            push.push_to_channel(
                conversation.channel_id,
                kind,
                {**rows.data(conversation), **extra(conversation)},
                by_language=rows.html_by_language(conversation),
            )


def on_message_received(
    sender, message_ids=(), created_conversation_ids=(), reopened_conversation_ids=(), **kwargs
):
    messages = _by_conversation(message_ids)
    created, reopened = set(created_conversation_ids), set(reopened_conversation_ids)
    _push_rows(
        messages,
        "message",
        lambda c: {
            "direction": Message.Direction.INBOUND,
            "message_ids": [m[0] for m in messages[c.pk]],
            "author_id": None,
            "created": c.pk in created,
            "reopened": c.pk in reopened,
        },
    )


def on_message_sent(sender, message_ids=(), author_id=None, **kwargs):
    messages = _by_conversation(message_ids)
    _push_rows(
        messages,
        "message",
        lambda c: {
            "direction": Message.Direction.OUTBOUND,
            "message_ids": [m[0] for m in messages[c.pk]],
            "author_id": author_id,
            "created": False,
            "reopened": False,
        },
    )


def on_message_changed(sender, message_ids=(), change="", **kwargs):
    messages = _by_conversation(message_ids)
    if change == "delivery":
        channels = dict(
            Message.objects.filter(pk__in=[ms[0][0] for ms in messages.values()]).values_list(
                "conversation_id", "channel_id"
            )
        )
        labels = rows.delivery_labels()
        for conversation_id, items in messages.items():
            push.push_to_channel(
                channels[conversation_id],
                "delivery",
                {
                    "conversation_id": conversation_id,
                    "deliveries": {str(pk): delivery for pk, _d, _a, delivery in items},
                },
                by_language=labels,
            )
        return
    _push_rows(
        messages,
        "message_changed",
        lambda c: {"change": change, "message_ids": [m[0] for m in messages[c.pk]]},
    )


def on_conversation_changed(sender, conversation_ids=(), change="", actor_id=None, **kwargs):
    ids = list(conversation_ids)
    if len(ids) > BULK_ROWS:
        _push_bulk(ids, change=change, actor_id=actor_id)
        return
    _push_rows(ids, "conversation", lambda c: {"change": change, "actor_id": actor_id})


def _push_bulk(ids: list[int], *, change: str, actor_id) -> None:
    """One ``conversations`` push per channel for a large batch: ids only, no rendered rows."""
    by_channel: dict[int, list[int]] = {}
    in_ids = db_features.dialect().in_ids("pk", ids)
    for pk, channel_id in Conversation.objects.filter(in_ids).values_list("pk", "channel_id"):
        by_channel.setdefault(channel_id, []).append(pk)
    with bus.batched():
        for channel_id, pks in by_channel.items():
            pks.sort()
            data = {"change": change, "actor_id": actor_id, "ids": pks, "count": len(pks)}
            push.push_to_channel(channel_id, "conversations", data)


# --- access ------------------------------------------------------------------------------------


def _announce_access(user_ids) -> None:
    ids = None if user_ids is None else list(user_ids)
    transaction.on_commit(lambda: push.access_changed(ids))


def _grant_changed(sender, instance: AccessGrant, **kwargs):
    if instance.user_id is not None:
        _announce_access([instance.user_id])
    if instance.team_id is not None:
        _announce_access(
            Team.members.through.objects.filter(team_id=instance.team_id).values_list(
                "user_id", flat=True
            )
        )


def _team_members_changed(sender, instance, action, pk_set=None, reverse=False, **kwargs):
    if action not in ("post_add", "post_remove", "pre_clear"):
        return
    if reverse:  # user.teams changed: ``instance`` is the user
        _announce_access([instance.pk])
    elif action == "pre_clear":
        _announce_access(list(instance.members.values_list("pk", flat=True)))
    else:
        _announce_access(pk_set or [])


def _team_deleted(sender, instance: Team, **kwargs):
    _announce_access(list(instance.members.values_list("pk", flat=True)))


def _channel_saved(sender, instance: Channel, created=False, **kwargs):
    if not created:  # the All Users / All Teams switches may have changed: anyone may be hit
        _announce_access(None)


def _user_saved(sender, instance, created=False, update_fields=None, **kwargs):
    if created or (update_fields is not None and set(update_fields) <= {"last_login"}):
        return
    _announce_access([instance.pk])


def _user_permissions_changed(sender, instance, action, reverse=False, **kwargs):
    if not action.startswith("post_") and action != "pre_clear":
        return
    if isinstance(instance, Group) or reverse:
        _announce_access(None)  # a group's permissions, or a permission's holders
    else:
        _announce_access([instance.pk])


def connect() -> None:
    signals.message_received.connect(on_message_received, dispatch_uid="realtime.received")
    signals.message_sent.connect(on_message_sent, dispatch_uid="realtime.sent")
    signals.message_changed.connect(on_message_changed, dispatch_uid="realtime.changed")
    signals.conversation_changed.connect(
        on_conversation_changed, dispatch_uid="realtime.conversation"
    )
    post_save.connect(_grant_changed, sender=AccessGrant, dispatch_uid="realtime.grant_saved")
    post_delete.connect(_grant_changed, sender=AccessGrant, dispatch_uid="realtime.grant_gone")
    m2m_changed.connect(
        _team_members_changed, sender=Team.members.through, dispatch_uid="realtime.members"
    )
    pre_delete.connect(_team_deleted, sender=Team, dispatch_uid="realtime.team_gone")
    post_save.connect(_channel_saved, sender=Channel, dispatch_uid="realtime.channel")
    user_model = get_user_model()
    post_save.connect(_user_saved, sender=user_model, dispatch_uid="realtime.user")
    m2m_changed.connect(
        _user_permissions_changed,
        sender=user_model.user_permissions.through,
        dispatch_uid="realtime.user_perms",
    )
    m2m_changed.connect(
        _user_permissions_changed, sender=user_model.groups.through, dispatch_uid="realtime.groups"
    )
    m2m_changed.connect(
        _user_permissions_changed,
        sender=Group.permissions.through,
        dispatch_uid="realtime.group_perms",
    )
