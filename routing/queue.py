"""The queue of conversations waiting for an agent on push channels (``Waiting`` rows).

``enqueue`` is called by the receivers of the conversations' announcements with the ids that
changed (it checks each is still New, unassigned and on a push channel), ``forget`` removes the
ones that stopped waiting, and ``discover`` (a sweep) finds any the announcements missed, so a
lost receiver run delays a conversation by at most one sweep, never forever.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Exists, OuterRef, Q

from config import db_features
from conversations.models import Conversation
from routing.models import ChannelRouting, Waiting

Status = Conversation.Status


def _waiting_now(qs):
    return qs.filter(
        status=Status.NEW,
        assignee__isnull=True,
        channel__routing__push=True,
        channel__is_active=True,
    )


def enqueue(conversation_ids, *, now: datetime) -> int:
    """Queue those of these conversations that wait for an agent; the others leave the queue.
    Returns how many were newly queued."""
    ids = list(conversation_ids)
    if not ids:
        return 0
    rows = list(
        _waiting_now(Conversation.objects.filter(pk__in=ids)).values_list(
            "pk", "channel_id", "channel__routing__fallback_after"
        )
    )
    waiting = {pk for pk, _ch, _after in rows}
    Waiting.objects.filter(conversation_id__in=[i for i in ids if i not in waiting]).delete()
    created = Waiting.objects.bulk_create(
        [
            Waiting(conversation_id=pk, channel_id=ch, queued_at=now, fallback_at=now + after)
            for pk, ch, after in rows
        ],
        ignore_conflicts=True,
    )
    return len(created) if rows else 0


def forget(conversation_ids) -> None:
    ids = list(conversation_ids)
    Waiting.objects.filter(db_features.dialect().in_ids("conversation_id", ids)).delete()


def discover(*, now: datetime, limit: int = 1000) -> int:
    """Queue New, unassigned conversations of push channels that have no queue row yet, and
    drop rows of conversations that no longer wait (bounded; run by the sweep)."""
    found = 0
    for routing in ChannelRouting.objects.filter(push=True, channel__is_active=True):
        missing = list(
            Conversation.objects.filter(
                channel_id=routing.channel_id, status=Status.NEW, assignee__isnull=True
            )
            .filter(~Exists(Waiting.objects.filter(conversation_id=OuterRef("pk"))))
            .order_by("last_activity_at")
            .values_list("pk", flat=True)[:limit]
        )
        found += enqueue(missing, now=now)
    stale = Waiting.objects.filter(
        ~Q(conversation__status=Status.NEW)
        | Q(conversation__assignee__isnull=False)
        | Q(channel__routing__push=False)
    ).values_list("conversation_id", flat=True)[:limit]
    forget(list(stale))
    return found
