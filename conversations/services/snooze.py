"""Snooze ("boomerang"): a conversation leaves the queues until a time, then comes back into
New keeping its assignee; a customer's message wakes it at once (``rules.ON_INBOUND``). And the
Pending boomerang: a Pending conversation without activity for its channel's age comes back into
New. See docs/routing.md.

The timer is the conversation's own due-time column ``snoozed_until`` (partial index
``conv_snoozed_due``), swept by beat (routing.tasks.wake) in bounded batches: per batch one
UPDATE claims up to ``batch_size`` due rows (on PostgreSQL ``FOR NO KEY UPDATE SKIP LOCKED``: rows
an agent is changing are left for the next batch) and moves them, and one INSERT writes a
STATUS_CHANGED event per moved row; the same statements on both databases, their differences
spelled by the dialect (config.db_features). After days without a worker the first sweep wakes
every overdue one, batch after batch. Never a broker-delayed task.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from channels_app.access import Cap
from config import db_features
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

# One sweep, both databases: each batch is one UPDATE that claims up to %(limit)s due rows
# (the dialect's claim lock: FOR NO KEY UPDATE SKIP LOCKED on PostgreSQL, so rows an agent is
# changing are left for the next batch; SQLite's IMMEDIATE transactions hold the write lock
# already), moves them with the condition re-stated and returns their ids, then one INSERT
# writes a STATUS_CHANGED event per moved row.
_WAKE_DUE = f"status = {SNOOZED} AND snoozed_until <= %(now)s"
_BOOMERANG_DUE = (
    f"channel_id = %(channel_id)s AND status = {PENDING}"
    f" AND {rules.open_statuses_sql('status')} AND last_activity_at < %(cutoff)s"
)


def _move_sql(*, due: str, order: str, sets: str, claim_lock: str) -> str:
    return f"""
UPDATE {CONV}
   SET {sets}
 WHERE id IN (SELECT id FROM {CONV} WHERE {due} ORDER BY {order} LIMIT %(limit)s {claim_lock})
   AND {due}
RETURNING id
"""  # noqa: S608 (table names, rules' literals and the dialect's fragments only)


def _wake_sql(dialect: db_features.Dialect) -> str:
    return _move_sql(
        due=_WAKE_DUE,
        order="snoozed_until",
        sets=(
            f"status = {NEW}, snoozed_until = NULL,"
            f" last_activity_at = {dialect.greatest}(last_activity_at, %(now)s)"
        ),
        claim_lock=dialect.claim_lock,
    )


def _boomerang_sql(dialect: db_features.Dialect) -> str:
    return _move_sql(
        due=_BOOMERANG_DUE,
        order="last_activity_at",
        sets=f"status = {NEW}, last_activity_at = %(now)s",
        claim_lock=dialect.claim_lock,
    )


def _events_sql(dialect: db_features.Dialect) -> str:
    return f"""
INSERT INTO {EVENT} (conversation_id, kind, actor_id, data, created_at)
SELECT id, {STATUS_CHANGED}, NULL, {dialect.json_param("%(data)s")}, %(now)s
  FROM {dialect.id_rows("%(ids)s")}
"""  # noqa: S608


def _announce_in_chunks(ids: list[int], size: int) -> None:
    """Announce what a sweep moved once every batch is committed: the receivers (live push,
    routing, SLA) run after the moves, so a backlog of 100,000 wakes on time and the screens
    follow, rather than each batch waiting for the previous one's receivers."""
    for start in range(0, len(ids), size):
        _announce(ids[start : start + size])


def _event_data(frm: str, reason: str) -> dict:
    return {"from": frm, "to": Status.NEW.value, "reason": reason}


def _batch(move_sql, params: dict, *, data: dict) -> list[int]:
    """One batch in one transaction: the move, then its events; the ids moved."""
    dialect = db_features.dialect()
    adapt = connection.ops.adapt_datetimefield_value
    params = {k: adapt(v) if isinstance(v, datetime) else v for k, v in params.items()}
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(move_sql(dialect), params)
        ids = [row[0] for row in cursor.fetchall()]
        if ids:
            cursor.execute(
                _events_sql(dialect),
                {"now": params["now"], "data": json.dumps(data), "ids": dialect.id_list(ids)},
            )
    return ids


def wake_due(*, now: datetime, batch_size: int, max_batches: int | None = None) -> list[int]:
    """Wake every snoozed conversation whose time came (into New, keeping the assignee), in
    batches of ``batch_size``; the ids woken."""
    woken: list[int] = []
    batches = 0
    while max_batches is None or batches < max_batches:
        batches += 1
        ids = _batch(
            _wake_sql,
            {"now": now, "limit": batch_size},
            data=_event_data(Status.SNOOZED.value, WAKE_REASON),
        )
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
            ids = _batch(
                _boomerang_sql,
                {"now": now, "cutoff": cutoff, "channel_id": channel_id, "limit": batch_size},
                data=_event_data(Status.PENDING.value, BOOMERANG_REASON),
            )
            moved += ids
            if len(ids) < batch_size:
                break
    _announce_in_chunks(moved, batch_size)
    return moved
