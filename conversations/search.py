"""The inbox search: the ids of the conversations whose contact or messages match (one query).

What matches is defined in docs/conversation-lifecycle.md ("Search"): contact name
(case-insensitive substring), number (digits, from 3), message text (full text on PostgreSQL,
``Dialect.text_search``), always within the channels the user can see, deleted messages never;
at most ``CONTACT_CAP`` contacts and ``MESSAGE_CAP`` matching messages. How the capped message
read stays bounded at 50M messages (docs/pages.md, "Search at 10M"):

1. the *head*: ``HEAD_ROWS`` recent visible messages, tested in full (for a few channels the
   newest of each channel, ``Dialect.per_group_sql``; for many, the first rows of the last two
   months). A word in one message in twelve fills the cap there, after a few thousand rows,
   without touching an index (its full-text bitmap alone is ~360k entries a month, ~25 ms);
2. then the months newest first (``Dialect.newest_months_first``: one slice per month on
   PostgreSQL, each planned alone for its few rows, so a rare word is found through each
   month's GIN index); the read stops at the slice that fills the cap.

A message of the head is met again in its month's slice; such a repeat takes a place under the
cap (the ids are distinct, there are only fewer of them), and only when the head found fewer
than the cap.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import connections
from django.db.models import BigIntegerField, ExpressionWrapper, F, Q, QuerySet
from django.utils import timezone

from config import db_features
from conversations.models import Contact, Conversation, Message

MESSAGE_CAP = 500
CONTACT_CAP = 500
# The newest months are searched one by one, the rest together.
MONTHS = 3
# The head: this many recent visible messages, tested before any index, when the probe (the
# first PROBE_ROWS of them) holds at least PROBE_MIN matches (a word in 1 message in 20 or more).
HEAD_ROWS = 10_000
PROBE_ROWS = 1_000
PROBE_MIN = 50
# More channels than this: the visible channels are a filter, not a way in (see _visible).
FILTER_CHANNELS_ABOVE = 20


def _visible(channel_ids: list[int]) -> Q:
    dialect = db_features.dialect()
    if len(channel_ids) > FILTER_CHANNELS_ABOVE:
        # Most messages pass, so "+ 0" keeps PostgreSQL from ANDing the channel index's
        # millions of entries per month into the full-text bitmap (270 ms a month at 10M).
        channel = ExpressionWrapper(F("channel_id") + 0, output_field=BigIntegerField())
        return dialect.in_ids(channel, channel_ids)
    return dialect.in_ids("channel_id", channel_ids)


def _head_start(now: datetime) -> datetime:
    """The first instant of the month before ``now``'s (UTC)."""
    index = now.year * 12 + now.month - 2
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def message_parts(q: str, channel_ids: list[int], *, now: datetime) -> list[tuple[str, tuple]]:
    """The SELECTs of matching messages' conversation ids, in the order to read them (the head,
    then the month slices), each capped at ``MESSAGE_CAP``, as (sql, params)."""
    # A message its sender deleted is not searched: its text is hidden from most readers, and a
    # hit would point at it (issue 21).
    messages = Message.objects.filter(_visible(channel_ids), revoked_at__isnull=True).order_by()
    text = db_features.dialect().text_search("body", q)

    # The head: capped reads of plain rows, then the text test on them. The test is compiled
    # against the message table's name, which the head's rows take as their alias.
    tested = Message.objects.filter(*text).query
    where_sql, where_params = tested.get_compiler(using=messages.db).compile(tested.where)
    table = Message._meta.db_table
    head_sql, head_params = _head(messages, channel_ids, now=now, rows=HEAD_ROWS)
    probe_sql, probe_params = _head(messages, channel_ids, now=now, rows=PROBE_ROWS)
    parts = [
        (
            # Only for a common word: the probe (an InitPlan, run once) finds PROBE_MIN matches
            # in the first PROBE_ROWS rows, else the head is skipped and a rare word costs
            # those rows only.
            f'SELECT "{table}"."conversation_id" FROM ({head_sql}) AS "{table}"'  # noqa: S608
            f" WHERE {where_sql} AND (SELECT COUNT(*) FROM (SELECT 1 FROM ({probe_sql})"
            f' AS "{table}" WHERE {where_sql} LIMIT {PROBE_MIN}) AS probe) >= {PROBE_MIN}'
            f" LIMIT {MESSAGE_CAP}",
            (*head_params, *where_params, *probe_params, *where_params),
        )
    ]
    months = db_features.dialect().newest_months_first(
        messages.filter(*text), field="created_at", now=now, months=MONTHS
    )
    parts.extend(m.values("conversation_id")[:MESSAGE_CAP].query.sql_with_params() for m in months)
    return parts


def _head(messages: QuerySet, channel_ids: list[int], *, now: datetime, rows: int):
    """(sql, params) of ``rows`` recent messages of ``messages`` (conversation id and text)."""
    columns = ("conversation_id", "body")
    if len(channel_ids) > FILTER_CHANNELS_ABOVE:
        # The first rows of the last two months: nearly every one is visible.
        head = messages.filter(created_at__gte=_head_start(now)).values(*columns)[:rows]
        return head.query.sql_with_params()
    # The newest messages of each channel (its own index range, newest first).
    return db_features.dialect().per_group_sql(
        messages,
        field="channel_id",
        values=channel_ids,
        columns=columns,
        order=("-created_at",),
        limit=max(1, rows // len(channel_ids)),
    )


def contact_ids(q: str) -> QuerySet:
    digits = "".join(ch for ch in q if ch.isdigit())
    match = Q(profile_name__icontains=q)
    if len(digits) >= 3:
        # The number is the WhatsApp ID (the phone field is "+" and the same digits).
        match |= Q(wa_id__contains=digits)
    return Contact.objects.filter(match).order_by().values("pk")[:CONTACT_CAP]


def matching_ids(q: str, channel_ids: list[int], *, using: str = "default") -> list[int]:
    """The ids of the conversations in ``channel_ids`` whose contact or messages match ``q``
    (at most ~``CONTACT_CAP + MESSAGE_CAP``): one query, the UNION of the capped contact
    matches and the capped message matches (read in order, stopping at the cap)."""
    if not channel_ids:
        return []
    by_contact = Conversation.objects.filter(contact_id__in=contact_ids(q)).order_by().values("pk")
    sql, params = by_contact.query.sql_with_params()
    slices = []
    for part_sql, part_params in message_parts(q, channel_ids, now=timezone.now()):
        slices.append(f"SELECT * FROM ({part_sql}) AS part_{len(slices)}")  # noqa: S608
        params = (*params, *part_params)
    # Django-compiled SQL; every value in it stays a bound parameter.
    statement = (
        f"SELECT * FROM ({sql}) AS by_contact UNION SELECT * FROM (SELECT * FROM"  # noqa: S608
        f" ({' UNION ALL '.join(slices)}) AS parts LIMIT {MESSAGE_CAP}) AS by_message"
    )
    with connections[using].cursor() as cursor:
        cursor.execute(statement, params)
        return [pk for (pk,) in cursor.fetchall()]
