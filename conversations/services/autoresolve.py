"""Auto-resolve: move conversations that waited too long in New or Pending to Resolved.

Each channel sets an age per queue (``Channel.auto_resolve_new_after`` and
``auto_resolve_pending_after``; None switches that queue off). A conversation is due when its
``last_activity_at`` is strictly older than ``now - age``: exactly at the limit it is not due yet.

The job is set-based. Each batch is one short transaction that claims up to ``batch_size`` due
rows with ``FOR NO KEY UPDATE ... SKIP LOCKED`` (rows an agent is changing right now are
skipped and picked up by the next run), resolves them with one UPDATE that re-states the
conditions, and writes one AUTO_RESOLVED Event per changed row with INSERT ... SELECT. Nothing
loops over rows in Python. A session-level advisory lock makes an overlapping run (a slow run
meeting the next beat tick) skip instead of competing. See docs/autoresolve.md and
docs/concurrency.md.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from channels_app.models import Channel
from config import db_features
from conversations import rules
from conversations.models import Conversation, Event
from conversations.services import announcements

# Tuned with bench/autoresolve.py: large enough that 500,000 rows take well under a minute,
# small enough that one batch holds its row locks for far less than 250 ms.
DEFAULT_BATCH_SIZE = 500
MAX_BATCH_SIZE = 50_000

# Each batch aims to hold its row locks about this long: after a slower batch the next one is
# smaller (a checkpoint, a busy disk), after a faster one it grows back towards ``batch_size``.
TARGET_BATCH_SECONDS = 0.1
# A run announces its committed batches together (see autoresolve()): at most this many rows or
# this long after the previous announcement.
ANNOUNCE_ROWS = 5_000
ANNOUNCE_SECONDS = 1.0
MIN_BATCH_SIZE = 50
# The first batch of a loop has cold caches and no timing to go by: it starts small and grows (at
# most doubling per batch), so not even the first one can hold its locks far past the target.
FIRST_BATCH_SIZE = 100
# Side-by-side workers take the channels in this many id ranges each (see channel_shares).
SHARES_PER_WORKER = 16

# pg_try_advisory_lock key, fixed so every process agrees on it ("autoresol" in ASCII).
ADVISORY_LOCK_KEY = 0x6175746F7265736F

QUEUES = tuple(rules.AUTO_RESOLUTION)
RESOLUTION_FOR = rules.AUTO_RESOLUTION

# Only table names from model Meta and fragments from conversations.rules (enum values as
# literals) are formatted into the SQL below; every other value is a bound parameter (hence the
# S608 suppressions).
CONV = Conversation._meta.db_table
CHAN = Channel._meta.db_table
EVENT = Event._meta.db_table
AUTO_RESOLVED = rules.sql_literal(Event.Kind.AUTO_RESOLVED)


@dataclass
class Batch:
    """What one batch did. ``last_pair`` is the (channel id, queue) it ended in: every pair
    before it is exhausted, so the next batch starts there."""

    claimed: int
    resolved: Counter
    last_pair: tuple[int, str] | None
    conversation_ids: list[int] = field(default_factory=list)  # the ones it resolved
    # From BEGIN to COMMIT: how long the batch held its row locks (the receivers of its
    # announcement run after the commit and are not counted).
    held: float = 0.0


@dataclass
class Summary:
    """What a run did: resolved counts per (channel id, queue) and how long it held locks."""

    resolved: Counter = field(default_factory=Counter)
    batches: int = 0
    elapsed: float = 0.0
    longest_batch: float = 0.0
    # Another run held the advisory lock, so this one did nothing.
    skipped: bool = False
    # should_stop() asked to stop between batches (SIGTERM in the command).
    stopped: bool = False

    @property
    def total(self) -> int:
        return sum(self.resolved.values())

    def as_dict(self) -> dict:
        """A JSON-friendly form, for the Celery task result and the benchmark."""
        return {
            "total": self.total,
            "batches": self.batches,
            "elapsed_s": round(self.elapsed, 3),
            "longest_batch_ms": round(self.longest_batch * 1000, 1),
            "skipped": self.skipped,
            "stopped": self.stopped,
            "resolved": [
                {"channel_id": ch, "queue": q, "count": n}
                for (ch, q), n in sorted(self.resolved.items())
            ],
        }


# --- PostgreSQL: one statement per batch ---------------------------------------------------
# `pairs` lists every (channel, queue) with auto-resolve on, in a fixed order, from the batch
# cursor on; the limits come from the channel table in the same statement, so a setting changed
# mid-run applies from the next batch. For each pair the LATERAL subquery is a range scan of the
# partial index conv_open_by_activity (channel_id, status, last_activity_at), oldest first; the
# literal `status IN (...)` of rules.due_sql lets the planner prove the index's predicate. A
# plain join instead lets the planner, which cannot estimate a cutoff that varies per channel,
# pick a full scan. The cursor matters at scale: without it, batch k would revisit the index
# entries of every row that batches 1..k-1 already resolved.
_PG_PAIRS = f"""
    SELECT ch.id AS channel_id, q.status, q.after
      FROM {CHAN} ch
     CROSS JOIN LATERAL (
           {rules.auto_resolve_values_sql("ch")}
           ) AS q (status, after)
     WHERE q.after IS NOT NULL
       AND (ch.id, q.status) >= (%(from_channel)s, %(from_queue)s) {{channel_filter}}
     ORDER BY ch.id, q.status
"""  # noqa: S608


def _pg_due(conv: str, pair: str) -> str:
    """rules' due condition for the pair alias ``pair`` (its queue and its age)."""
    cutoff = rules.cutoff_sql(now="%(now)s", after=f"{pair}.after")
    return rules.due_sql(conv=conv, status=f"{pair}.status", cutoff=cutoff)


# One statement per batch: claim (row locks taken here, rows held by agents skipped), resolve
# with the conditions re-stated against the row's current version, and write one Event per
# changed row from RETURNING. The result is one row per pair touched: claimed and resolved.
# NO KEY UPDATE is the lock the UPDATE takes anyway (no key column changes); unlike FOR UPDATE
# it does not block the KEY SHARE lock that inserting a message or note for the conversation
# takes for its foreign key, so webhooks never wait on a batch.
_PG_BATCH = f"""
WITH due AS (
    SELECT c.id, c.status, c.assignee_id, p.after, p.channel_id
      FROM ({_PG_PAIRS}) p
     CROSS JOIN LATERAL (
           SELECT c.id, c.status, c.assignee_id
             FROM {CONV} c
            WHERE c.channel_id = p.channel_id
              AND {_pg_due("c", "p")}
            ORDER BY c.{rules.DUE_COLUMN}
            LIMIT %(limit)s
              FOR NO KEY UPDATE OF c SKIP LOCKED
           ) c
     LIMIT %(limit)s
),
upd AS (
    UPDATE {CONV} c
       SET {rules.resolve_set_sql(resolution=rules.resolution_case_sql("d.status"))}
      FROM due d
     WHERE c.id = d.id
       AND {_pg_due("c", "d")}
    RETURNING c.id, d.status AS from_status, d.assignee_id, d.after
),
ins AS (
    INSERT INTO {EVENT} (conversation_id, kind, actor_id, data, created_at)
    SELECT id, {AUTO_RESOLVED}, NULL,
           jsonb_build_object(
               'rule', from_status,
               'from', from_status,
               'to', {rules.RESOLVED_SQL},
               'after_seconds', EXTRACT(EPOCH FROM after)::bigint,
               'assignee_id', assignee_id
           ),
           %(now)s
      FROM upd
)
SELECT d.channel_id, d.status, count(*), count(u.id), array_remove(array_agg(u.id), NULL)
  FROM due d
  LEFT JOIN upd u ON u.id = d.id
 GROUP BY d.channel_id, d.status
"""  # noqa: S608

_PG_COUNTS = f"""
SELECT p.channel_id, p.status, count(*)
  FROM ({_PG_PAIRS}) p
  JOIN {CONV} c
    ON c.channel_id = p.channel_id
   AND {_pg_due("c", "p")}
 GROUP BY p.channel_id, p.status
"""  # noqa: S608


def _pg_channel_filter(channel_id: int | None, share: tuple[int, int] | None = None) -> str:
    sql = "" if channel_id is None else "AND ch.id = %(channel_id)s"
    if share is not None:
        sql += " AND ch.id BETWEEN %(share_first)s AND %(share_last)s"
    return sql


class _OneStatement:
    """PostgreSQL: each batch is one statement (data-modifying CTEs, SKIP LOCKED row locks), the
    due limits read from the channel table inside it; several batch loops can run side by side
    on disjoint shares of the channels."""

    parallel = True

    def plan(self, channel_id: int | None, start: tuple[int, str]) -> None:
        return None  # the statement reads the channels' settings itself

    def batch(
        self,
        *,
        now: datetime,
        batch_size: int,
        channel_id: int | None,
        start: tuple[int, str],
        share: tuple[int, int] | None,
        plan: None,
    ) -> Batch:
        sql = _PG_BATCH.format(channel_filter=_pg_channel_filter(channel_id, share))
        params = {
            "now": now,
            "limit": batch_size,
            "channel_id": channel_id,
            "from_channel": start[0],
            "from_queue": start[1],
            "share_first": share[0] if share else None,
            "share_last": share[1] if share else None,
        }
        with connection.cursor() as cursor:
            # The job is idempotent, so a batch lost to a crash in the few milliseconds before
            # its WAL reaches disk is simply redone by the next run; not waiting for that flush
            # on each commit is a large part of the job's speed on slow disks. It affects this
            # transaction only, never an agent's.
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        return Batch(
            claimed=sum(row[2] for row in rows),
            resolved=Counter({(ch, q): n for ch, q, _, n, _ids in rows if n}),
            last_pair=max(((ch, q) for ch, q, *_ in rows), default=None),
            conversation_ids=[pk for *_, ids in rows for pk in ids],
        )

    def counts(self, *, now: datetime, channel_id: int | None) -> Counter:
        sql = _PG_COUNTS.format(channel_filter=_pg_channel_filter(channel_id))
        params = {"now": now, "channel_id": channel_id, "from_channel": 0, "from_queue": ""}
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return Counter({(ch, q): n for ch, q, n in cursor.fetchall()})


# --- SQLite: a few statements per batch, under the write lock --------------------------------
# SQLite stores durations as integer microseconds and datetimes as text, so the cutoffs are
# computed in Python per channel and passed in; the channel table is tiny. SQLite serialises
# writers (transactions start IMMEDIATE), so the claim needs no row locks: nobody can change a
# row between the claim and the resolve, until we commit.
_SERIAL_CUTOFF = rules.due_sql(conv="c", status="%(queue)s", cutoff="%(cutoff)s")

_SERIAL_CLAIM = f"""
INSERT INTO {EVENT} (conversation_id, kind, actor_id, data, created_at)
SELECT c.id, {AUTO_RESOLVED}, NULL,
       json_object('rule', %(queue)s, 'from', %(queue)s, 'to', {rules.RESOLVED_SQL},
                   'after_seconds', %(after_seconds)s, 'assignee_id', c.assignee_id),
       %(now)s
  FROM {CONV} c
 WHERE c.channel_id = %(channel_id)s AND {_SERIAL_CUTOFF}
 ORDER BY c.{rules.DUE_COLUMN}, c.id
 LIMIT %(limit)s
RETURNING conversation_id
"""  # noqa: S608

_SERIAL_RESOLVE = f"""
UPDATE {CONV}
   SET {rules.resolve_set_sql(resolution="%(resolution)s")}
 WHERE id IN (SELECT value FROM json_each(%(ids)s))
   AND channel_id = %(channel_id)s
   AND {rules.due_sql(conv=CONV, status="%(queue)s", cutoff="%(cutoff)s")}
"""  # noqa: S608


def _channel_limits(
    channel_id: int | None, start: tuple[int, str] = (0, "")
) -> list[tuple[int, str, timedelta]]:
    """(channel id, queue, age) for every queue with auto-resolve on, in cursor order, from
    ``start`` on."""
    channels = Channel.objects.filter(pk__gte=start[0])
    if channel_id is not None:
        channels = channels.filter(pk=channel_id)
    fields = ["pk", *rules.AUTO_RESOLVE_SETTING.values()]
    return [
        (channel.pk, queue, after)
        for channel in channels.order_by("pk").only(*fields)
        for queue, after in rules.auto_resolve_ages(channel)
        if (channel.pk, queue) >= start
    ]


class _UnderWriteLock:
    """SQLite (no row locks, no data-modifying CTEs): per (channel, queue) an INSERT ... SELECT
    claims the rows by writing their Events, then one UPDATE resolves exactly those; one batch
    loop at a time."""

    parallel = False

    def plan(self, channel_id: int | None, start: tuple[int, str]) -> list:
        # Read the settings before the batch's transaction opens, so it holds the write lock
        # only for its writes.
        return _channel_limits(channel_id, start)

    def batch(
        self,
        *,
        now: datetime,
        batch_size: int,
        channel_id: int | None,
        start: tuple[int, str],
        share: tuple[int, int] | None,
        plan: list[tuple[int, str, timedelta]],
    ) -> Batch:
        ops = connection.ops
        db_now = ops.adapt_datetimefield_value(now)
        batch = Batch(claimed=0, resolved=Counter(), last_pair=None)
        with connection.cursor() as cursor:
            for ch_id, queue, after in plan:
                if batch.claimed >= batch_size:
                    break
                params = {
                    "now": db_now,
                    "queue": queue,
                    "after_seconds": int(after.total_seconds()),
                    "channel_id": ch_id,
                    "cutoff": ops.adapt_datetimefield_value(rules.due_cutoff(now, after)),
                    "limit": batch_size - batch.claimed,
                }
                cursor.execute(_SERIAL_CLAIM, params)
                ids = [row[0] for row in cursor.fetchall()]
                if not ids:
                    continue
                cursor.execute(
                    _SERIAL_RESOLVE,
                    {**params, "resolution": RESOLUTION_FOR[queue], "ids": json.dumps(ids)},
                )
                # Both statements ran under the one write lock, so they saw the same rows; a
                # mismatch would leave an Event without its change, so roll the batch back.
                if cursor.rowcount != len(ids):
                    raise RuntimeError(
                        f"auto-resolve claimed {len(ids)} rows but resolved {cursor.rowcount}"
                    )
                batch.claimed += len(ids)
                batch.resolved[(ch_id, queue)] += len(ids)
                batch.conversation_ids += ids
                batch.last_pair = (ch_id, queue)
        return batch

    def counts(self, *, now: datetime, channel_id: int | None) -> Counter:
        counts: Counter = Counter()
        for ch_id, queue, after in _channel_limits(channel_id):
            due = rules.due_q(status=queue, cutoff=rules.due_cutoff(now, after))
            n = Conversation.objects.filter(due, channel_id=ch_id).count()
            if n:
                counts[(ch_id, queue)] = n
        return counts


_ONE_STATEMENT, _UNDER_WRITE_LOCK = _OneStatement(), _UnderWriteLock()


def _engine() -> _OneStatement | _UnderWriteLock:
    """How batches run on this database: the one place auto-resolve asks (issue 14)."""
    return _ONE_STATEMENT if db_features.dialect().one_statement_batches else _UNDER_WRITE_LOCK


# --- Public API ----------------------------------------------------------------------------


def autoresolve_batch(
    *,
    now: datetime,
    batch_size: int = DEFAULT_BATCH_SIZE,
    channel_id: int | None = None,
    start: tuple[int, str] = (0, ""),
    share: tuple[int, int] | None = None,
    announce: bool = True,
) -> Batch:
    """Resolve up to ``batch_size`` due conversations in one short transaction.

    Each resolved conversation loses its assignee, gets ``resolved_at`` and
    ``last_activity_at`` set to ``now`` (a status change is activity) and resolution
    auto_new/auto_pending, and gets exactly one AUTO_RESOLVED Event (actor NULL = the system) in
    the same transaction. On PostgreSQL the rows are claimed FOR NO KEY UPDATE SKIP LOCKED, so
    rows an agent holds are left for the next run. (channel id, queue) pairs before ``start``
    are not looked at; pass the previous batch's ``last_pair`` to continue a run.
    ``share=(first, last)`` (PostgreSQL only) limits the batch to the channels with ids from
    ``first`` to ``last``, so that workers can run side by side on disjoint rows.
    """
    if timezone.is_naive(now):
        raise ValueError("now must be timezone-aware")
    engine = _engine()
    plan = engine.plan(channel_id, start)
    committed: list[float] = []
    began = time.perf_counter()
    with transaction.atomic():
        # Registered first, so it runs first after the COMMIT, before the announcement's.
        transaction.on_commit(lambda: committed.append(time.perf_counter()))
        batch = engine.batch(
            now=now,
            batch_size=batch_size,
            channel_id=channel_id,
            start=start,
            share=share,
            plan=plan,
        )
        if announce:
            _announce([batch], now)
    batch.held = (committed[0] if committed else time.perf_counter()) - began
    return batch


class _Announcer:
    """A run's committed batches, announced together every ANNOUNCE_ROWS rows or
    ANNOUNCE_SECONDS: the receivers' (live push, routing, service levels, ...) fixed cost per
    announcement, paid per 500-row batch, was twice the batch's own."""

    def __init__(self, now: datetime):
        self.now = now
        self.batches: list[Batch] = []
        self.rows = 0
        self.since = time.perf_counter()

    def add(self, batch: Batch) -> None:
        self.batches.append(batch)
        self.rows += len(batch.conversation_ids)
        if self.rows >= ANNOUNCE_ROWS or time.perf_counter() - self.since >= ANNOUNCE_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self.batches:
            _announce(self.batches, self.now)
        self.batches, self.rows, self.since = [], 0, time.perf_counter()


def _announce(batches: list[Batch], now: datetime) -> None:
    """One conversation_changed for these batches, after their commit (at once, outside one)."""
    ids = [pk for batch in batches for pk in batch.conversation_ids]
    announcements.conversation_changed(ids, change=Event.Kind.AUTO_RESOLVED, actor_id=None, at=now)


def due_counts(*, now: datetime, channel_id: int | None = None) -> Counter:
    """How many conversations are due per (channel id, queue) at ``now``; changes nothing."""
    if timezone.is_naive(now):
        raise ValueError("now must be timezone-aware")
    return _engine().counts(now=now, channel_id=channel_id)


@contextmanager
def _run_lock(exclusive: bool):
    """Yield whether this run may proceed; an exclusive run holds a session advisory lock
    (PostgreSQL; SQLite serialises the batches' writes by itself)."""
    if not exclusive:
        yield True
        return
    with db_features.dialect().try_advisory_lock(connection, ADVISORY_LOCK_KEY) as acquired:
        yield acquired


def channel_shares(workers: int) -> list[tuple[int, int]]:
    """The channels with auto-resolve on, cut into consecutive id ranges (first id, last id) for
    ``workers`` side by side: SHARES_PER_WORKER ranges each, so that when one worker's channels
    hold fewer due rows it takes more ranges and none is left running alone for long."""
    ids = list(
        Channel.objects.filter(rules.auto_resolve_on_q())
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    count = min(len(ids), workers * SHARES_PER_WORKER)
    bounds = [len(ids) * i // count for i in range(count + 1)] if count else []
    return [(ids[a], ids[b - 1]) for a, b in itertools.pairwise(bounds)]


def next_batch_size(size: int, took: float, *, maximum: int) -> int:
    """The size of the next batch after one of ``size`` rows took ``took`` seconds: scaled
    towards TARGET_BATCH_SECONDS, at most doubling, never below MIN_BATCH_SIZE or above
    ``maximum``."""
    if took <= 0:
        return maximum
    scaled = int(size * min(2.0, TARGET_BATCH_SECONDS / took))
    return max(min(MIN_BATCH_SIZE, maximum), min(maximum, scaled))


def autoresolve(
    *,
    now: datetime,
    batch_size: int = DEFAULT_BATCH_SIZE,
    channel_id: int | None = None,
    exclusive: bool = True,
    should_stop: Callable[[], bool] | None = None,
    on_batch: Callable[[Summary], None] | None = None,
    workers: int = 1,
) -> Summary:
    """Resolve every conversation due at ``now``, batch by batch, and return a Summary.

    Each batch is its own transaction (see ``autoresolve_batch``), so agents wait at most one
    batch for a row the job holds, and a run stopped between batches leaves nothing half done.
    ``exclusive`` takes a PostgreSQL advisory lock so that a run overlapping another one skips
    (``Summary.skipped``); without it, overlapping runs still resolve each row once, because
    SKIP LOCKED and the re-stated conditions keep them apart. ``should_stop`` is checked before
    each batch; ``on_batch`` is called after each one (progress reporting, under a lock).
    ``workers`` > 1 (PostgreSQL, all channels) runs that many batch loops side by side, each on
    its own connection, taking the channels a share at a time (channel_shares).
    """
    summary = Summary()
    started = time.perf_counter()
    guard = threading.Lock()

    def run_batches(
        share: tuple[int, int] | None, announcer: _Announcer, size: int
    ) -> tuple[bool, int]:
        """Batches until ``share`` (all channels when None) is exhausted; returns whether the
        run was asked to stop, and the batch size reached (the next share starts there)."""
        start: tuple[int, str] = (0, "")
        while True:
            if should_stop is not None and should_stop():
                summary.stopped = True
                return True, size
            batch = autoresolve_batch(
                now=now, batch_size=size, channel_id=channel_id, start=start,
                share=share, announce=False,
            )  # fmt: skip
            took = batch.held
            if not batch.claimed:
                return False, size
            announcer.add(batch)
            with guard:
                summary.batches += 1
                summary.longest_batch = max(summary.longest_batch, took)
                summary.resolved.update(batch.resolved)
                summary.elapsed = time.perf_counter() - started
                if on_batch is not None:
                    on_batch(summary)
            # A short batch means every pair from the cursor on is exhausted; rows skipped as
            # locked wait for the next run rather than being spun on here.
            if batch.claimed < size:
                return False, size
            start = batch.last_pair
            size = next_batch_size(size, took, maximum=batch_size)

    def worker(shares: Iterator[tuple[int, int]]) -> None:
        """Take the next share of the channels until none is left (each on this thread's own
        connection): a worker that finishes a small share takes another, so both stay busy to
        the end whatever the channels' sizes."""
        announcer = _Announcer(now)
        size = min(batch_size, FIRST_BATCH_SIZE)
        try:
            while True:
                with guard:
                    share = next(shares, None)
                if share is None or summary.stopped:
                    return
                stop, size = run_batches(share, announcer, size)
                if stop:
                    return
        finally:
            announcer.flush()
            connection.close()  # this thread's connection

    with _run_lock(exclusive) as acquired:
        if not acquired:
            summary.skipped = True
            return summary
        if workers > 1 and channel_id is None and _engine().parallel:
            # Disjoint shares of the channels, one connection per worker: PostgreSQL runs the
            # batches on as many cores, and the row locks keep each row to exactly one of them.
            shares = iter(channel_shares(workers))
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for future in [pool.submit(worker, shares) for _ in range(workers)]:
                    future.result()
        else:
            announcer = _Announcer(now)
            try:
                run_batches(None, announcer, min(batch_size, FIRST_BATCH_SIZE))
            finally:
                announcer.flush()
    summary.elapsed = time.perf_counter() - started
    return summary
