"""The conversation rules, declared once: the ORM code and every SQL statement are built from here.

What lives here (docs/conversation-lifecycle.md tells the story):

- the statuses and the open set (``OPEN``);
- what a customer's inbound message does to the conversation it lands in (``ON_INBOUND``):
  New stays New, Pending goes back to New keeping its assignee, and without an open
  conversation (none, or only Resolved ones) a new conversation opens in New;
- what resolving does (``resolved_fields``): status Resolved, a resolution reason, no assignee,
  ``resolved_at``;
- the auto-resolve due condition (``auto_resolve_after``, ``is_due``, ``due_q``, ``due_sql``):
  per queue, by the channel's setting for that queue, on the age of the last activity, strictly
  older;
- the window policy (``window_open``): the medium's (its transport's, by the channel's kind;
  WhatsApp: 24 hours from the customer's last message), where only an inbound message counts as
  the customer's (``counts_for_window``).

SQL builders (``sql_literal``, ``open_statuses_sql``, ``resolution_case_sql``, ...) return SQL
fragments built from the enum values, so no status or resolution value is ever written as a
string literal inside an SQL statement: renaming a value changes the SQL with it. Literals
(rather than bound parameters) are used where the planner must see the value, e.g. to prove the
predicate of the partial index ``conv_open_by_activity``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q

from channels_app import transports
from conversations.models import Conversation, Message

Status = Conversation.Status
Resolution = Conversation.Resolution

# --- statuses --------------------------------------------------------------------------------

OPEN: tuple[str, ...] = tuple(s.value for s in Conversation.OPEN)
# The queues agents work (and auto-resolve empties): open but not snoozed. The partial index
# conv_open_by_activity covers exactly these.
QUEUES: tuple[str, ...] = (Status.NEW.value, Status.PENDING.value)


def is_open(status: str) -> bool:
    return status in OPEN


# --- an inbound message ------------------------------------------------------------------------


@dataclass(frozen=True)
class Inbound:
    """What a customer's message does to the conversation it lands in."""

    status: str  # the conversation's status afterwards
    keeps_assignee: bool
    opens_new: bool  # a new conversation opens (the old one, if any, is left as it is)
    event_reason: str = ""  # a STATUS_CHANGED event with this reason, when not empty


# Keyed by the status of the contact's conversation on the channel; None = there is none.
ON_INBOUND: dict[str | None, Inbound] = {
    Status.NEW.value: Inbound(Status.NEW.value, keeps_assignee=True, opens_new=False),
    Status.PENDING.value: Inbound(
        Status.NEW.value, keeps_assignee=True, opens_new=False, event_reason="customer_replied"
    ),
    Status.RESOLVED.value: Inbound(Status.NEW.value, keeps_assignee=False, opens_new=True),
    # A snoozed conversation wakes at once when the customer writes.
    Status.SNOOZED.value: Inbound(
        Status.NEW.value, keeps_assignee=True, opens_new=False, event_reason="customer_replied"
    ),
    None: Inbound(Status.NEW.value, keeps_assignee=False, opens_new=True),
}
assert set(ON_INBOUND) == {*Status.values, None}  # a new status needs its inbound rule


def on_inbound(status: str | None) -> Inbound:
    """The rule for a customer's message arriving while the conversation is in ``status``."""
    return ON_INBOUND[status]


# The open statuses a customer's message moves back (a STATUS_CHANGED event with its reason;
# announced as reopened_conversation_ids): derived, so a new status needs only its ON_INBOUND.
REOPENED_BY_INBOUND: tuple[str, ...] = tuple(s for s in OPEN if ON_INBOUND[s].event_reason)


def back_to_new_event(from_status: str = Status.PENDING.value) -> dict:
    """The data of the STATUS_CHANGED event written when a Pending (or snoozed) conversation's
    customer answers (both inbound paths)."""
    rule = ON_INBOUND[from_status]
    return {"from": from_status, "to": rule.status, "reason": rule.event_reason}


# --- resolving ----------------------------------------------------------------------------------

# The resolution an auto-resolve run records, per queue it resolved from.
AUTO_RESOLUTION: dict[str, str] = {
    Status.NEW.value: Resolution.AUTO_NEW.value,
    Status.PENDING.value: Resolution.AUTO_PENDING.value,
}
assert tuple(AUTO_RESOLUTION) == QUEUES  # every queue can be auto-resolved (not snoozed)

# A customer's answer to a CSAT survey (its score, or the awaited comment) arrives after the
# conversation was resolved, so ON_INBOUND opens a new one; the system resolves that one at once
# with this resolution (services.resolve_survey_answers), so no answer waits in New.
SURVEY_ANSWER_RESOLUTION: str = Resolution.SURVEY_ANSWER.value
SURVEY_ANSWER_REASON = "survey_answer"


def resolved_fields(*, resolution: str, now: datetime) -> dict:
    """The fields resolving sets (the ORM updates and the SQL SET lists use these): status
    Resolved, the resolution reason, the assignee cleared, resolved_at."""
    return {
        "status": Status.RESOLVED.value,
        "resolution": resolution,
        "assignee_id": None,
        "resolved_at": now,
    }


# --- auto-resolve -------------------------------------------------------------------------------

# The channel field that holds each queue's auto-resolve age (None = off for that queue).
AUTO_RESOLVE_SETTING: dict[str, str] = {
    Status.NEW.value: "auto_resolve_new_after",
    Status.PENDING.value: "auto_resolve_pending_after",
}
assert tuple(AUTO_RESOLVE_SETTING) == QUEUES


def auto_resolve_after(channel, status: str) -> timedelta | None:
    """The channel's auto-resolve age for the queue ``status``; None when it is off."""
    field = AUTO_RESOLVE_SETTING.get(status)
    return None if field is None else getattr(channel, field)


def auto_resolve_on_q() -> Q:
    """Channels with auto-resolve on for at least one queue (the ORM)."""
    on = Q()
    for field in AUTO_RESOLVE_SETTING.values():
        on |= Q(**{f"{field}__isnull": False})
    return on


def auto_resolve_ages(channel) -> list[tuple[str, timedelta]]:
    """(queue, age) for each queue of the channel with auto-resolve on, in QUEUES order."""
    return [(q, after) for q in QUEUES if (after := auto_resolve_after(channel, q)) is not None]


# The due condition, declared once. A conversation is due when it sits in an auto-resolvable
# queue (AUTO_RESOLUTION) whose age the channel sets, and its DUE_COLUMN is strictly older than
# the cutoff, now minus that age: exactly at the limit it is not due yet. is_due (Python),
# due_q (the ORM) and due_sql (every statement: the batches on both databases, the counts)
# render this one condition; "strictly older" is `<` in each.
DUE_COLUMN = "last_activity_at"


def due_cutoff(now: datetime, after: timedelta) -> datetime:
    """The instant a conversation's last activity must be older than to be due."""
    return now - after


def is_due(*, status: str, last_activity_at: datetime, after: timedelta | None, now: datetime):
    """The due condition on one conversation's values (the reference the statements follow)."""
    return (
        status in AUTO_RESOLUTION
        and after is not None
        and last_activity_at < due_cutoff(now, after)
    )


def due_q(*, status: str, cutoff: datetime) -> Q:
    """The due condition as an ORM filter, for the queue ``status`` with its ``cutoff``."""
    return (
        Q(status__in=tuple(AUTO_RESOLUTION)) & Q(status=status) & Q(**{f"{DUE_COLUMN}__lt": cutoff})
    )


def cutoff_sql(*, now: str, after: str) -> str:
    """``due_cutoff`` in SQL, from SQL expressions: a timestamp and an interval (PostgreSQL)."""
    return f"{now} - {after}"


def due_sql(*, conv: str, status: str, cutoff: str) -> str:
    """The due condition as SQL on the conversation alias (or table) ``conv``; ``status`` and
    ``cutoff`` are SQL expressions (parameters, columns, ``cutoff_sql``). The queues are
    literals, so the planner proves the predicate of the partial index conv_open_by_activity."""
    return (
        f"{in_sql(f'{conv}.status', AUTO_RESOLUTION)} AND {conv}.status = {status}"
        f" AND {conv}.{DUE_COLUMN} < {cutoff}"
    )


# --- the window (the medium's: WhatsApp's 24 hours) ----------------------------------------------


def counts_for_window(direction: str) -> bool:
    """Only the customer's own (inbound) messages open or extend the window."""
    return direction == Message.Direction.INBOUND


def window_open(
    kind: str, last_customer_message_at: datetime | None, at: datetime, *, margin=None
) -> bool:
    """Whether a free-form reply may go out at ``at`` on a channel of ``kind``: its transport's
    window policy (WhatsApp: until 24 hours after the customer's last message)."""
    return transports.get(kind).window_open(
        last_customer_message_at, at, margin=margin or timedelta(0)
    )


# --- SQL builders -------------------------------------------------------------------------------

_SAFE = re.compile(r"[a-z_]+")


def sql_literal(value: str) -> str:
    """An enum value as a quoted SQL literal. Only ``[a-z_]+`` values are accepted, so quoting
    can never be escaped; every status, resolution and event kind qualifies."""
    value = str(value)
    if not _SAFE.fullmatch(value):
        raise ValueError(f"not a plain enum value: {value!r}")
    return f"'{value}'"


def in_sql(column: str, values: Iterable[str]) -> str:
    """``column IN ('a', 'b')`` from enum values, as literals."""
    return f"{column} IN ({', '.join(sql_literal(v) for v in values)})"


def open_statuses_sql(column: str = "status") -> str:
    """``column IN ('new', 'pending')`` (the queues): literal, so the planner proves
    partial-index predicates."""
    return in_sql(column, QUEUES)


def open_statuses_params(column: str = "status") -> tuple[str, list[str]]:
    """The open set as a fragment with bound parameters: ("status IN (%s, %s)", [...])."""
    return f"{column} IN ({', '.join(['%s'] * len(OPEN))})", list(OPEN)


RESOLVED_SQL = sql_literal(Status.RESOLVED.value)


def resolution_case_sql(status_column: str) -> str:
    """``CASE <status> WHEN 'new' THEN 'auto_new' ... END``: the auto resolution per queue."""
    whens = " ".join(
        f"WHEN {sql_literal(q)} THEN {sql_literal(r)}" for q, r in AUTO_RESOLUTION.items()
    )
    return f"CASE {status_column} {whens} END"


def auto_resolve_values_sql(channel_alias: str) -> str:
    """``VALUES ('new', ch.auto_resolve_new_after), ...``: each queue with its age column."""
    rows = ", ".join(
        f"({sql_literal(q)}, {channel_alias}.{field})" for q, field in AUTO_RESOLVE_SETTING.items()
    )
    return f"VALUES {rows}"


_NOW, _RESOLUTION = object(), object()  # stand-ins: where resolved_fields puts its arguments


def resolve_set_sql(*, now: str = "%(now)s", resolution: str) -> str:
    """The SET list of resolving, generated from ``resolved_fields`` (so the ORM updates and the
    SQL batches set the same fields), activity bumped to ``now``. ``now`` and ``resolution`` are
    SQL expressions (a parameter, a CASE)."""

    def sql(value) -> str:
        if value is _NOW:
            return now
        if value is _RESOLUTION:
            return resolution
        return "NULL" if value is None else sql_literal(value)

    fields = {**resolved_fields(resolution=_RESOLUTION, now=_NOW), "last_activity_at": _NOW}
    return ", ".join(f"{name} = {sql(value)}" for name, value in fields.items())
