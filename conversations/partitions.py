"""Monthly partitions of messages and events on PostgreSQL (docs/partitions.md, issue 20).

Migration 0017 turns ``conversations_message`` and ``conversations_event`` into tables
partitioned by ``created_at`` (one partition per UTC month, ``<table>_yYYYYmMM``, plus
``<table>_default`` for rows outside every month). This module keeps them:

- ``create_ahead``: the partitions of the current month and ``PARTITION_MONTHS_AHEAD`` months
  after it exist (rows that landed in the default partition for such a month are moved in);
- ``drop_expired``: with ``HISTORY_RETENTION_MONTHS`` = N > 0, the month partitions that end
  before the first day of the month N months back are detached and dropped, with their rows
  in the default partition and their keys in ``conversations_messagekey``; 0 keeps everything.

``maintain`` runs both (the beat job ``conversations.tasks.maintain_partitions`` and
``manage.py partitions``). On SQLite (plain tables) everything here is a no-op.

``thread_floor`` is the lower bound of a conversation's messages and events that lets the
conversation page's queries prune to the partitions it needs: no writer stores a message or
event of a conversation earlier than its ``opened_at`` (inbound: Meta's timestamp opens it and
the message is stored at arrival; imported history opens at its earliest message; a merge of
two conversations moves ``opened_at`` back to the earlier one's), and ``THREAD_SLACK`` covers a
sender's clock running ahead of ours.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import DateTimeField, Q
from django.db.models.expressions import RawSQL

from config import db_features

logger = logging.getLogger(__name__)

TABLES = ("conversations_message", "conversations_event")
KEY_TABLE = "conversations_messagekey"
THREAD_SLACK = timedelta(days=1)
# A partition DDL waits at most this long for the table's lock instead of queueing every
# request behind it; the next run tries again.
LOCK_TIMEOUT = "5s"


@dataclass
class Partition:
    table: str
    name: str
    start: datetime | None  # None: the default partition
    end: datetime | None


@dataclass
class Result:
    created: list[str] = field(default_factory=list)
    moved: int = 0  # rows moved from a default partition into a new month
    dropped: list[str] = field(default_factory=list)
    deleted: int = 0  # expired rows deleted from the default partitions


def thread_floor(opened_at: datetime) -> datetime:
    """No message or event of a conversation opened at ``opened_at`` is older than this."""
    return opened_at - THREAD_SLACK


def in_thread(conversation) -> Q:
    """The condition that prunes a query of one conversation's messages or events to the
    partitions from its opening on (a no-op filter on SQLite)."""
    return Q(created_at__gte=thread_floor(conversation.opened_at))


def by_provider_id(channel_id: int, wamid: str) -> Q:
    """A message by its provider id, pruned on PostgreSQL to the one partition the key table
    names (an InitPlan: the executor skips the other partitions)."""
    return _kept().by_provider_id(
        Q(channel_id=channel_id, provider_message_id=wamid), channel_id, wamid
    )


def _pruned_by_key(match: Q, channel_id: int, wamid: str) -> Q:
    created_at = RawSQL(  # noqa: S611 (a constant statement, the values bound)
        f"SELECT created_at FROM {KEY_TABLE} WHERE channel_id = %s AND provider_message_id = %s",  # noqa: S608
        [channel_id, wamid],
        output_field=DateTimeField(),
    )
    return match & Q(created_at=created_at)


def month_start(moment: datetime | date) -> date:
    return date(moment.year, moment.month, 1)


def add_months(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def _utc(month: date) -> datetime:
    return datetime(month.year, month.month, 1, tzinfo=UTC)


def partition_name(table: str, month: date) -> str:
    return f"{table}_y{month.year:04d}m{month.month:02d}"


def partitions(table: str) -> list[Partition]:
    """The partitions of ``table``, months in order, the default one last."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT',
                      (regexp_match(pg_get_expr(c.relpartbound, c.oid),
                                    'FROM \\(''([^'']+)''\\) TO \\(''([^'']+)''\\)'))
               FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
               WHERE i.inhparent = %s::regclass""",
            [table],
        )
        rows = cursor.fetchall()
    found = []
    for name, is_default, bounds in rows:
        if is_default:
            found.append(Partition(table, name, None, None))
        else:
            start, end = (datetime.fromisoformat(b).astimezone(UTC) for b in bounds)
            found.append(Partition(table, name, start, end))
    return sorted(
        found, key=lambda p: (p.start is None, p.start or datetime.min.replace(tzinfo=UTC))
    )


def is_partitioned(table: str) -> bool:
    return _kept().is_partitioned(table)


def _is_partitioned(table: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT FROM pg_partitioned_table WHERE partrelid = %s::regclass)",
            [table],
        )
        return cursor.fetchone()[0]


def create_ahead(now: datetime, months: int | None = None, *, dry_run: bool = False) -> Result:
    """The partitions of this month and ``months`` months ahead (PARTITION_MONTHS_AHEAD)."""
    months = settings.PARTITION_MONTHS_AHEAD if months is None else months
    first = month_start(now.astimezone(UTC))
    return _kept().create_months(first, add_months(first, months), dry_run=dry_run)


def create_months(first: date, last: date, *, dry_run: bool = False) -> Result:
    """The partitions of the months ``first`` .. ``last`` (inclusive) that do not exist yet
    (PostgreSQL: call ``create_ahead`` where the tables may be plain)."""
    result = Result()
    for table in TABLES:
        have = {p.name for p in partitions(table)}
        month = first
        while month <= last:
            name = partition_name(table, month)
            if name not in have:
                result.created.append(name)
                if not dry_run:
                    result.moved += _create(table, name, month)
            month = add_months(month, 1)
    return result


def _create(table: str, name: str, month: date) -> int:
    """One month partition; rows already in the default partition for it are moved in (a
    partition cannot be created over rows the default partition holds). Returns rows moved."""
    start, end = _utc(month), _utc(add_months(month, 1))
    default = f"{table}_default"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
        cursor.execute(
            f"SELECT EXISTS (SELECT FROM {default} WHERE created_at >= %s AND created_at < %s)",  # noqa: S608
            [start, end],
        )
        if not cursor.fetchone()[0]:
            cursor.execute(
                f"CREATE TABLE {name} PARTITION OF {table} FOR VALUES FROM (%s) TO (%s)",
                [start, end],
            )
            return 0
        # Strays: a standalone table takes them over, then becomes the month's partition. The
        # key table's rows stay as they are (same ids and times): the triggers stand aside.
        cursor.execute("SET LOCAL desk.partition_move = 'on'")
        cursor.execute(
            f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
        )
        cursor.execute(
            f"""WITH moved AS (DELETE FROM {default} WHERE created_at >= %s AND created_at < %s
                               RETURNING *)
                INSERT INTO {name} SELECT * FROM moved""",  # noqa: S608
            [start, end],
        )
        moved = cursor.rowcount
        # SET LOCAL lasts to the end of the outermost transaction, not of this block.
        cursor.execute("SET LOCAL desk.partition_move = 'off'")
        cursor.execute(
            f"ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM (%s) TO (%s)",
            [start, end],
        )
        logger.info("partition %s created with %s rows from %s", name, moved, default)
        return moved


def expiry(now: datetime, months: int) -> datetime:
    """Rows older than this go when keeping ``months`` months: the current month and the
    ``months`` whole months before it stay."""
    return _utc(add_months(month_start(now.astimezone(UTC)), -months))


def drop_expired(now: datetime, months: int | None = None, *, dry_run: bool = False) -> Result:
    """With a retention of ``months`` (HISTORY_RETENTION_MONTHS; 0 keeps everything): the
    month partitions ending at or before ``expiry`` are detached and dropped."""
    months = settings.HISTORY_RETENTION_MONTHS if months is None else months
    if months <= 0:
        return Result()
    return _kept().drop_expired(now, months, dry_run=dry_run)


def _drop_expired(now: datetime, months: int, *, dry_run: bool) -> Result:
    result = Result()
    cutoff = expiry(now, months)
    for table in TABLES:
        expired = [p for p in partitions(table) if p.end is not None and p.end <= cutoff]
        result.dropped.extend(p.name for p in expired)
        if dry_run:
            continue
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            # Deferred foreign-key checks of this transaction's own writes (none in the beat
            # job's transaction) would keep a partition from being dropped.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for p in expired:
                cursor.execute(f"ALTER TABLE {table} DETACH PARTITION {p.name}")
                cursor.execute(f"DROP TABLE {p.name}")
            # Expired strays in the default partition (the triggers delete their keys).
            cursor.execute(f"DELETE FROM {table}_default WHERE created_at < %s", [cutoff])  # noqa: S608
            result.deleted += cursor.rowcount
            if table == "conversations_message":
                cursor.execute(f"DELETE FROM {KEY_TABLE} WHERE created_at < %s", [cutoff])  # noqa: S608
        if expired:
            logger.info(
                "dropped %s (history older than %s)", ", ".join(p.name for p in expired), cutoff
            )
    return result


class _Plain:
    """Plain tables (SQLite): nothing to prune to, create or drop."""

    def by_provider_id(self, match: Q, channel_id: int, wamid: str) -> Q:
        return match

    def is_partitioned(self, table: str) -> bool:
        return False

    def create_months(self, first: date, last: date, *, dry_run: bool) -> Result:
        return Result()

    def drop_expired(self, now: datetime, months: int, *, dry_run: bool) -> Result:
        return Result()


class _Monthly(_Plain):
    """Monthly partitions (PostgreSQL, migration 0017)."""

    def by_provider_id(self, match: Q, channel_id: int, wamid: str) -> Q:
        return _pruned_by_key(match, channel_id, wamid)

    def is_partitioned(self, table: str) -> bool:
        return _is_partitioned(table)

    def create_months(self, first: date, last: date, *, dry_run: bool) -> Result:
        return create_months(first, last, dry_run=dry_run)

    def drop_expired(self, now: datetime, months: int, *, dry_run: bool) -> Result:
        return _drop_expired(now, months, dry_run=dry_run)


_PLAIN, _MONTHLY = _Plain(), _Monthly()


def _kept() -> _Plain:
    """The one guard of this module: the tables are monthly partitions only on PostgreSQL;
    on SQLite every public function here is the plain tables' no-op."""
    return _MONTHLY if db_features.dialect().partitioned else _PLAIN


def maintain(
    now: datetime,
    *,
    ahead: int | None = None,
    retention: int | None = None,
    dry_run: bool = False,
) -> Result:
    created = create_ahead(now, ahead, dry_run=dry_run)
    dropped = drop_expired(now, retention, dry_run=dry_run)
    return Result(created.created, created.moved, dropped.dropped, dropped.deleted)
