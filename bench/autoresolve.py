"""Benchmark the auto-resolve job against a hand-written single UPDATE on PostgreSQL.

    DATABASE_URL=postgres://desk:desk@127.0.0.1:5432/desk_bench \\
        .venv/bin/python -m bench.autoresolve

Builds (once) 1,000,000 conversations over 200 channels with mixed auto-resolve settings, about
half of them due, with INSERT ... SELECT generate_series. Each measurement starts from the same
state (due rows put back, events removed, VACUUM ANALYZE, CHECKPOINT). The job runs in a separate
worker process (`--worker`) so its peak RSS is its own. See bench/README.md.

The database name must contain "bench": the dataset step truncates the desk's tables.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from bench.seed import insert_channels, per_suffix

# The dataset is generated relative to this instant, and every run resolves "as of" it, so the
# set of due rows is the same on every run and every machine.
NOW = datetime(2026, 1, 1, tzinfo=UTC)
CHANNELS = 200
CONVERSATIONS = 1_000_000
AGENTS = 20

TARGET_SECONDS = 60.0
TARGET_RATIO = 3.0
TARGET_RSS_MB = 200.0
TARGET_BATCH_MS = 250.0


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def _vmhwm_kb() -> int:
    """Peak resident set size of this process, from the kernel."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


# --- dataset -------------------------------------------------------------------------------

# Mixed settings, by channel number g: some queues off, limits from 1 to 60 days.
DAY = timedelta(days=1)
CHANNEL_SETTINGS = {
    "auto_resolve_new_after": per_suffix([None, None, 7, 1, 14, 30, 30, 45, 3, 10], DAY),
    "auto_resolve_pending_after": per_suffix([None, 30, None, 2, 14, 30, 60, 5, 21, 7], DAY),
}

CONTACT_SQL = """
INSERT INTO conversations_contact (kind, wa_id, profile_name, phone, created_at)
SELECT 'whatsapp', 'bench' || g, 'Customer ' || g, '+1555' || g, %(now)s
FROM generate_series(1, %(contacts)s) g
"""

AGENT_SQL = """
INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,
                       is_active, date_joined)
SELECT '!', false, 'bench-agent-' || g, 'Agent', '' || g, '', false, true, %(now)s
FROM generate_series(1, %(agents)s) g
"""

# Conversation g: channel g % 200, contact g / 200, so (channel, contact) is unique. Status:
# 40 % New, 40 % Pending, 20 % Resolved; last activity spread evenly over the 90 days before NOW;
# every third open one assigned. The hash of g stands in for random() so a reset can recompute.
CONVERSATION_SQL = """
INSERT INTO conversations_conversation (
    channel_id, contact_id, status, assignee_id, opened_at, last_customer_message_at,
    last_activity_at, first_response_at, resolved_at, resolution, last_message_preview)
SELECT ch.first + g %% %(channels)s,
       co.first + g / %(channels)s,
       s.status,
       CASE WHEN s.status <> 'resolved' AND g %% 3 = 0 THEN ag.first + g %% %(agents)s END,
       t.at - interval '1 hour', t.at, t.at, NULL,
       CASE WHEN s.status = 'resolved' THEN t.at END,
       CASE WHEN s.status = 'resolved' THEN 'agent' ELSE '' END,
       'Hello, I have a question about my order'
FROM generate_series(0, %(conversations)s - 1) g
CROSS JOIN (SELECT min(id) AS first FROM channels_app_channel) ch
CROSS JOIN (SELECT min(id) AS first FROM conversations_contact) co
CROSS JOIN (SELECT min(id) AS first FROM auth_user WHERE username LIKE 'bench-agent-%%') ag
CROSS JOIN LATERAL (SELECT abs(hashint4(g)) %% 1000 AS h) r
CROSS JOIN LATERAL (SELECT CASE WHEN r.h < 400 THEN 'new' WHEN r.h < 800 THEN 'pending'
                                ELSE 'resolved' END AS status) s
CROSS JOIN LATERAL (SELECT %(now)s::timestamptz
                           - (abs(hashint4(g + 7919)) %% (90 * 86400)) * interval '1 second'
                           AS at) t
"""

# Undo the job: the resolution says which queue a row came from; the assignee and the last
# activity are recomputed with the formulas above (conversation ids start at 1, so id = g + 1).
RESET_SQL = """
UPDATE conversations_conversation c
   SET status = CASE c.resolution WHEN 'auto_new' THEN 'new' ELSE 'pending' END,
       resolution = '', resolved_at = NULL,
       last_activity_at = %(now)s::timestamptz - (abs(hashint4((c.id - 1 + 7919)::int))
                                                  %% (90 * 86400)) * interval '1 second',
       assignee_id = CASE WHEN (c.id - 1) %% 3 = 0 THEN ag.first + (c.id - 1) %% %(agents)s END
  FROM (SELECT min(id) AS first FROM auth_user WHERE username LIKE 'bench-agent-%%') ag
 WHERE c.resolution IN ('auto_new', 'auto_pending')
"""

# The yardstick: everything due resolved in one statement, with its events, no batching.
SINGLE_UPDATE_SQL = """
WITH upd AS (
    UPDATE conversations_conversation c
       SET status = 'resolved', assignee_id = NULL, resolved_at = %(now)s,
           last_activity_at = %(now)s,
           resolution = CASE old.status WHEN 'new' THEN 'auto_new' ELSE 'auto_pending' END
      FROM conversations_conversation old
      JOIN channels_app_channel ch ON ch.id = old.channel_id
     WHERE old.id = c.id
       AND ((old.status = 'new' AND old.last_activity_at < %(now)s - ch.auto_resolve_new_after)
         OR (old.status = 'pending'
             AND old.last_activity_at < %(now)s - ch.auto_resolve_pending_after))
    RETURNING c.id, old.status, old.assignee_id,
              CASE old.status WHEN 'new' THEN ch.auto_resolve_new_after
                              ELSE ch.auto_resolve_pending_after END AS after
)
INSERT INTO conversations_event (conversation_id, kind, actor_id, data, created_at)
SELECT id, 'auto_resolved', NULL,
       jsonb_build_object('rule', status, 'from', status, 'to', 'resolved',
                          'after_seconds', EXTRACT(EPOCH FROM after)::bigint,
                          'assignee_id', assignee_id),
       %(now)s
  FROM upd
"""


def _scalar(cursor, sql: str, params=None):
    cursor.execute(sql, params)
    return cursor.fetchone()[0]


def ensure_dataset(*, regenerate: bool, conversations: int = CONVERSATIONS) -> None:
    from django.core.management import call_command
    from django.db import connection, transaction

    if regenerate or not _complete(conversations):
        # From an empty schema: every index the migrations define exists before the load
        # (an earlier killed run may have left a table without them).
        with connection.cursor() as cursor:
            cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        regenerate = True
    call_command("migrate", verbosity=0)
    params = {
        "now": NOW,
        "channels": CHANNELS,
        "contacts": -(-conversations // CHANNELS),
        "agents": AGENTS,
        "conversations": conversations,
    }
    # One transaction (PostgreSQL DDL is transactional): a run killed half-way through the load
    # leaves the previous dataset, never a table whose indexes were dropped and not rebuilt.
    with transaction.atomic(), connection.cursor() as cursor:
        have = _scalar(cursor, "SELECT count(*) FROM conversations_conversation")
        if have == conversations and not regenerate:
            print(f"dataset: reusing {have:,} conversations")
            return
        started = time.perf_counter()
        cursor.execute(
            "TRUNCATE conversations_event, conversations_message, conversations_note,"
            " conversations_conversation, conversations_contact, channels_app_channel"
            " RESTART IDENTITY CASCADE"
        )
        cursor.execute("DELETE FROM auth_user WHERE username LIKE %s", ["bench-agent-%"])
        insert_channels(
            cursor, CHANNELS, name_prefix="bench channel ", phone_prefix="bench-", now=NOW,
            **CHANNEL_SETTINGS,
        )  # fmt: skip
        for sql in (CONTACT_SQL, AGENT_SQL):
            cursor.execute(sql, params)
        # Loading into a table without its secondary indexes and then building them by sorting
        # is several times faster than maintaining twelve indexes row by row; the foreign-key
        # triggers are skipped too (the rows are consistent by construction).
        cursor.execute(
            "SELECT pg_get_indexdef(i.indexrelid), i.indexrelid::regclass::text FROM pg_index i"
            " WHERE i.indrelid = 'conversations_conversation'::regclass AND NOT EXISTS"
            " (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)"
        )
        indexes = cursor.fetchall()
        for _, name in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute("SET session_replication_role = replica")
        cursor.execute(CONVERSATION_SQL, params)
        cursor.execute("SET session_replication_role = DEFAULT")
        cursor.execute("SET maintenance_work_mem = '256MB'")
        for definition, _ in indexes:
            cursor.execute(definition)
        cursor.execute("CREATE TABLE bench_dataset_complete (conversations integer)")
        cursor.execute("INSERT INTO bench_dataset_complete VALUES (%s)", [conversations])
    _vacuum()
    took = time.perf_counter() - started
    print(f"dataset: generated {conversations:,} conversations in {took:.1f} s")


def _complete(conversations: int) -> bool:
    """Whether a whole dataset of the current size was loaded (the marker is written last, in
    the load's own transaction)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('bench_dataset_complete')")
        if cursor.fetchone()[0] is None:
            return False
        return _scalar(cursor, "SELECT max(conversations) FROM bench_dataset_complete") == (
            conversations
        )


def _vacuum() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) conversations_conversation, conversations_event")
        cursor.execute("CHECKPOINT")


def reset() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(RESET_SQL, {"agents": AGENTS, "now": NOW})
        cursor.execute("TRUNCATE conversations_event")
    _vacuum()


def due_total() -> int:
    from conversations.services import autoresolve

    return sum(autoresolve.due_counts(now=NOW).values())


def resolved_state() -> tuple[int, int]:
    """(conversations resolved by the job, auto-resolve events) right now."""
    from django.db import connection

    with connection.cursor() as cursor:
        resolved = _scalar(
            cursor,
            "SELECT count(*) FROM conversations_conversation"
            " WHERE resolution IN ('auto_new', 'auto_pending')",
        )
        events = _scalar(
            cursor, "SELECT count(*) FROM conversations_event WHERE kind = 'auto_resolved'"
        )
    return resolved, events


def run_single_update() -> float:
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(SINGLE_UPDATE_SQL, {"now": NOW})
    return time.perf_counter() - started


def run_worker(batch_size: int) -> dict:
    """Run the real service in a child process; return its summary and resource figures."""
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "bench.autoresolve", "--worker", "--batch-size", str(batch_size)],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"worker failed with exit code {proc.returncode}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = wall
    # Linux reports ru_maxrss in kilobytes: the largest child waited for so far.
    result["children_maxrss_kb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return result


def worker(batch_size: int) -> None:
    _setup_django()
    from django.conf import settings

    from conversations.services import autoresolve

    summary = autoresolve.autoresolve(
        now=NOW, batch_size=batch_size, workers=settings.AUTORESOLVE_WORKERS
    )
    out = summary.as_dict()
    out.pop("resolved")  # 400 per-queue rows: the parent only needs the totals
    out["vmhwm_kb"] = _vmhwm_kb()
    sys.stdout.write(json.dumps(out) + "\n")


def _verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--regenerate", action="store_true", help="rebuild the dataset")
    parser.add_argument(
        "--conversations", type=int, default=CONVERSATIONS,
        help="dataset size (about half are due; bench.scale runs 100k, 1M and 10M)",
    )  # fmt: skip
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        worker(args.batch_size)
        return

    _setup_django()
    from django.db import connection

    from conversations.services import autoresolve

    if connection.vendor != "postgresql" or "bench" not in connection.settings_dict["NAME"]:
        raise SystemExit("set DATABASE_URL to a PostgreSQL database whose name contains 'bench'")
    batch_size = args.batch_size or autoresolve.DEFAULT_BATCH_SIZE

    ensure_dataset(regenerate=args.regenerate, conversations=args.conversations)
    reset()
    due = due_total()
    print(f"due at {NOW:%Y-%m-%d}: {due:,} of {args.conversations:,} conversations")

    job = run_worker(batch_size)
    job_resolved, job_events = resolved_state()
    reset()
    single_seconds = run_single_update()
    single_resolved, single_events = resolved_state()
    reset()

    if not (job_resolved == job_events == single_resolved == single_events == due):
        raise SystemExit(
            f"mismatch: due {due}, job {job_resolved}/{job_events} events, "
            f"single UPDATE {single_resolved}/{single_events} events"
        )

    job_seconds = job["elapsed_s"]
    rss_mb = max(job["vmhwm_kb"], job["children_maxrss_kb"]) / 1024
    ratio = job_seconds / single_seconds
    rows = [
        ("rows resolved", f"{job['total']:,}", ""),
        ("batch size", f"{batch_size:,}", ""),
        ("batches", f"{job['batches']:,}", ""),
        ("job time (service)", f"{job_seconds:.1f} s", _verdict(job_seconds < TARGET_SECONDS)),
        ("job time (process)", f"{job['process_wall_s']:.1f} s", ""),
        ("job rows/s", f"{job['total'] / job_seconds:,.0f}", ""),
        ("single UPDATE time", f"{single_seconds:.1f} s", ""),
        ("single UPDATE rows/s", f"{due / single_seconds:,.0f}", ""),
        ("job / single UPDATE", f"{ratio:.2f}x", _verdict(ratio < TARGET_RATIO)),
        ("worker peak RSS", f"{rss_mb:.0f} MB", _verdict(rss_mb < TARGET_RSS_MB)),
        (
            "longest batch",
            f"{job['longest_batch_ms']:.0f} ms",
            _verdict(job["longest_batch_ms"] < TARGET_BATCH_MS),
        ),
    ]
    width = max(len(name) for name, _, _ in rows)
    print()
    for name, value, verdict in rows:
        print(f"{name:<{width}}  {value:>12}  {verdict}")


if __name__ == "__main__":
    main()
