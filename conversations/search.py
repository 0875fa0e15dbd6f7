"""The inbox search: the ids of the conversations whose contact or messages match (one query).

What matches is defined in docs/conversation-lifecycle.md ("Search"): contact name
(case-insensitive substring), number (digits, from 3), message text (full text on PostgreSQL,
``Dialect.text_search``), always within the channels the user can see, deleted messages never;
at most ``CONTACT_CAP`` contacts and ``MESSAGE_CAP`` matching messages. How the capped message
read stays bounded at 50M messages (docs/pages.md, "Search at 10M"):

1. the *head*: ``HEAD_ROWS`` visible messages of the last two months, tested in full (for a
   few channels the newest of each channel, ``Dialect.per_group_sql``; for many, the first
   rows), when those months hold ``HEAD_MIN_ROWS`` messages or more (``Dialect.rows_estimate``)
   and a probe of the head's first ``PROBE_ROWS`` finds the word common. Such a word (one
   message in twelve) fills the cap after a few thousand rows, without the full-text index: at
   10M conversations its bitmap alone is ~360k entries a month, ~25 ms. With less data the
   index is cheaper than the head, and the head is skipped;
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
from conversations import partitions
from conversations.models import Contact, Conversation, Message

MESSAGE_CAP = 500
CONTACT_CAP = 500
# The newest months are searched one by one, the rest together.
MONTHS = 2
# The head: this many recent visible messages, tested before any index, when the probe (the
# first PROBE_ROWS of them) holds at least PROBE_MIN matches (a word in 1 message in 20 or more).
HEAD_ROWS = 10_000
PROBE_ROWS = 1_000
PROBE_MIN = 50
# ... and when the last two months hold this many messages (of every channel: the full-text
# index's entries for a common word are ~5 % of them).
HEAD_MIN_ROWS = 1_000_000
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
    months = [partitions.month_start(now), partitions.add_months(partitions.month_start(now), -1)]
    rows_sql, rows_params = db_features.dialect().rows_estimate(
        [partitions.partition_name(table, month) for month in months]
    )
    parts = [
        (
            # Only with much data and a common word: both tests are InitPlans, run once before
            # the head; the probe (PROBE_ROWS rows) only when the data is large.
            f'SELECT "{table}"."conversation_id" FROM ({head_sql}) AS "{table}"'  # noqa: S608
            f" WHERE {where_sql} AND {rows_sql} >= {HEAD_MIN_ROWS}"
            f" AND (SELECT COUNT(*) FROM (SELECT 1 FROM ({probe_sql})"
            f' AS "{table}" WHERE {where_sql} LIMIT {PROBE_MIN}) AS probe) >= {PROBE_MIN}'
            f" LIMIT {MESSAGE_CAP}",
            (*head_params, *where_params, *rows_params, *probe_params, *where_params),
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
    recent = messages.filter(created_at__gte=_head_start(now))  # the last two months' partitions
    if len(channel_ids) > FILTER_CHANNELS_ABOVE:
        # Their first rows: nearly every one is visible.
        return recent.values(*columns)[:rows].query.sql_with_params()
    # The newest messages of each channel (its own index range, newest first).
    return db_features.dialect().per_group_sql(
        recent,
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
