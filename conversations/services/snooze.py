"""Snooze ("boomerang"): a conversation leaves the queues until a time, then comes back into
New keeping its assignee; a customer's message wakes it at once (``rules.ON_INBOUND``). And the
Pending boomerang: a Pending conversation without activity for its channel's age comes back into
New. See docs/routing.md.

The timer is the conversation's own due-time column ``snoozed_until`` (partial index
``conv_snoozed_due``), swept by beat (routing.tasks.wake) in bounded batches: one statement per
batch on PostgreSQL claims up to ``batch_size`` due rows (``FOR NO KEY UPDATE SKIP LOCKED``: rows
an agent is changing are left for the next batch), moves them and writes one STATUS_CHANGED
event per row, as auto-resolve does. After days without a worker the first sweep wakes every
overdue one, batch after batch. Never a broker-delayed task.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from channels_app.access import Cap
from config.db_features import is_postgres
from conversations import rules, signals
from conversations.models import Conversation, Event
from conversations.services.events import DomainError, _later, _lock, _require, record_event

Status = Conversation.Status
SNOOZE_IN_PAST = _("Choose a time in the future to snooze until.")
SNOOZE_TOO_FAR = _("A conversation can be snoozed for at most a year.")
SNOOZE_RESOLVED = _("A resolved conversation cannot be snoozed.")
MAX_SNOOZE = timedelta(days=366)

WAKE_REASON = "snooze_ended"
BOOMERANG_REASON = "boomerang"

CONV = Conversation._meta.db_table
EVENT = Event._meta.db_table
SNOOZED = rules.sql_literal(Status.SNOOZED)
NEW = rules.sql_literal(Status.NEW)
PENDING = rules.sql_literal(Status.PENDING)
STATUS_CHANGED = rules.sql_literal(Event.Kind.STATUS_CHANGED)


def _announce(ids: list[int], actor: AbstractBaseUser | None = None) -> None:
    if ids:
        signals.announce(
            signals.conversation_changed,
            conversation_ids=ids,
            change=Event.Kind.STATUS_CHANGED,
            actor_id=None if actor is None else actor.pk,
        )


@transaction.atomic
def snooze(
    conversation: Conversation,
    *,
    until: datetime,
    actor: AbstractBaseUser | None,
    now: datetime | None = None,
) -> Conversation:
    """Snooze a New or Pending conversation until ``until`` (Cap.TRIAGE); snoozing a snoozed one
    again moves its time. DomainError for a time not in the future, more than a year ahead, or a
    Resolved conversation. The assignee stays."""
    now = now or timezone.now()
    _require(actor, Cap.TRIAGE, conversation)
    if until <= now:
        raise DomainError(str(SNOOZE_IN_PAST))
    if until > now + MAX_SNOOZE:
        raise DomainError(str(SNOOZE_TOO_FAR))
    _lock(conversation)
    if conversation.status == Status.RESOLVED:
        raise DomainError(str(SNOOZE_RESOLVED))
    old = conversation.status
    conversation.status = Status.SNOOZED
    conversation.snoozed_until = until
    conversation.last_activity_at = _later(conversation.last_activity_at, now)
    conversation.save(update_fields=["status", "snoozed_until", "last_activity_at"])
    record_event(
        conversation,
        kind=Event.Kind.STATUS_CHANGED,
        actor=actor,
        data={"from": old, "to": Status.SNOOZED.value, "until": until.isoformat()},
        now=now,
    )
    _announce([conversation.pk], actor)
    return conversation


# --- the sweep ---------------------------------------------------------------------------------

_PG_WAKE = f"""
WITH due AS (
    SELECT id FROM {CONV}
     WHERE status = {SNOOZED} AND snoozed_until <= %(now)s
     ORDER BY snoozed_until
     LIMIT %(limit)s
       FOR NO KEY UPDATE SKIP LOCKED
), upd AS (
    UPDATE {CONV} c
       SET status = {NEW}, snoozed_until = NULL,
           last_activity_at = GREATEST(c.last_activity_at, %(now)s)
      FROM due WHERE c.id = due.id AND c.status = {SNOOZED}
    RETURNING c.id
), ins AS (
    INSERT INTO {EVENT} (conversation_id, kind, actor_id, data, created_at)
    SELECT id, {STATUS_CHANGED}, NULL, %(data)s::jsonb, %(now)s FROM upd
)
SELECT id FROM upd
"""  # noqa: S608

_PG_BOOMERANG = f"""
WITH due AS (
    SELECT id FROM {CONV}
     WHERE channel_id = %(channel_id)s AND status = {PENDING}
       AND {rules.open_statuses_sql("status")}
       AND last_activity_at < %(cutoff)s
     ORDER BY last_activity_at
     LIMIT %(limit)s
       FOR NO KEY UPDATE SKIP LOCKED
), upd AS (
    UPDATE {CONV} c
       SET status = {NEW}, last_activity_at = %(now)s
      FROM due WHERE c.id = due.id AND c.status = {PENDING} AND c.last_activity_at < %(cutoff)s
    RETURNING c.id
), ins AS (
    INSERT INTO {EVENT} (conversation_id, kind, actor_id, data, created_at)
    SELECT id, {STATUS_CHANGED}, NULL, %(data)s::jsonb, %(now)s FROM upd
)
SELECT id FROM upd
"""  # noqa: S608


def _announce_in_chunks(ids: list[int], size: int) -> None:
    """Announce what a sweep moved once every batch is committed: the receivers (live push,
    routing, SLA) run after the moves, so a backlog of 100,000 wakes on time and the screens
    follow, rather than each batch waiting for the previous one's receivers."""
    for start in range(0, len(ids), size):
        _announce(ids[start : start + size])


def _event_data(frm: str, reason: str) -> dict:
    return {"from": frm, "to": Status.NEW.value, "reason": reason}


def _pg_batch(sql: str, params: dict) -> list[int]:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, {**params, "data": json.dumps(params["data"])})
        return [row[0] for row in cursor.fetchall()]


def _orm_batch(qs, *, frm: str, reason: str, now: datetime, limit: int) -> list[int]:
    """The same move through the ORM (SQLite, development): a batch in one transaction."""
    ids = []
    with transaction.atomic():
        for conversation in qs.select_for_update()[:limit]:
            conversation.status = Status.NEW
            conversation.snoozed_until = None
            conversation.last_activity_at = _later(conversation.last_activity_at, now)
            conversation.save(update_fields=["status", "snoozed_until", "last_activity_at"])
            record_event(
                conversation,
                kind=Event.Kind.STATUS_CHANGED,
                actor=None,
                data=_event_data(frm, reason),
                now=now,
            )
            ids.append(conversation.pk)
    return ids


def wake_due(*, now: datetime, batch_size: int, max_batches: int | None = None) -> list[int]:
    """Wake every snoozed conversation whose time came (into New, keeping the assignee), in
    batches of ``batch_size``; the ids woken."""
    woken: list[int] = []
    batches = 0
    while max_batches is None or batches < max_batches:
        batches += 1
        if is_postgres():
            ids = _pg_batch(
                _PG_WAKE,
                {"now": now, "limit": batch_size, "data": _event_data("snoozed", WAKE_REASON)},
            )
        else:
            qs = Conversation.objects.filter(
                status=Status.SNOOZED, snoozed_until__lte=now
            ).order_by("snoozed_until")
            ids = _orm_batch(qs, frm=Status.SNOOZED, reason=WAKE_REASON, now=now, limit=batch_size)
        woken += ids
        if len(ids) < batch_size:
            break
    _announce_in_chunks(woken, batch_size)
    return woken


def boomerang_pending(
    *, channel_ages: dict[int, timedelta], now: datetime, batch_size: int
) -> list[int]:
    """Move Pending conversations of each channel idle longer than its age back into New
    (keeping the assignee), in batches; ``channel_ages``: channel id -> age."""
    moved: list[int] = []
    for channel_id, after in sorted(channel_ages.items()):
        cutoff = now - after
        while True:
            if is_postgres():
                ids = _pg_batch(
                    _PG_BOOMERANG,
                    {
                        "now": now,
                        "cutoff": cutoff,
                        "channel_id": channel_id,
                        "limit": batch_size,
                        "data": _event_data("pending", BOOMERANG_REASON),
                    },
                )
            else:
                qs = Conversation.objects.filter(
                    channel_id=channel_id, status=Status.PENDING, last_activity_at__lt=cutoff
                ).order_by("last_activity_at")
                ids = _orm_batch(
                    qs, frm=Status.PENDING, reason=BOOMERANG_REASON, now=now, limit=batch_size
                )
            moved += ids
            if len(ids) < batch_size:
                break
    _announce_in_chunks(moved, batch_size)
    return moved
