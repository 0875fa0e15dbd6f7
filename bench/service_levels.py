"""The SLA sweep at 100,000 open conversations under SLA (issue 18).

    DATABASE_URL=postgres://desk:desk@127.0.0.1:5432/desk_sla_bench \\
        .venv/bin/python -m bench.service_levels [--conversations N] [--ticks T] [--json]

Builds (INSERT ... SELECT generate_series) N open conversations on 20 channels, each with the
three clocks the desk keeps (first response, resolution, the 24-hour window): 3 N rows whose
next alert moments are spread evenly over the 24 hours after NOW. Then:

- **steady state**: T consecutive sweeps 15 s apart (the beat period), as beat runs them; per
  run the database time (every statement's round trip, summed through an execute wrapper) and
  the wall time; afterwards the lateness of every alert recorded (event time - alert moment),
  whose maximum must stay under 60 s;
- **5-day outage**: every clock put back, the clock moved 5 days on, one bounded pass
  (``sweep.sweep``) catches everything up: its wall and database time, batches, and that no clock
  is left due.

The database name must contain "bench": the dataset step truncates the desk's tables.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

from bench.seed import insert_channels

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
CHANNELS = 20
TICK = timedelta(seconds=15)
TARGET_DB_SECONDS = 1.0
TARGET_LATENESS_S = 60.0


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


CONTACT_SQL = """
INSERT INTO conversations_contact (kind, wa_id, profile_name, phone, created_at)
SELECT 'whatsapp', 'slabench' || g, 'Customer ' || g, '+1555' || g, %(now)s
FROM generate_series(1, %(n)s) g
"""

# Conversation g opened within the hour before NOW, New, unassigned.
CONVERSATION_SQL = """
INSERT INTO conversations_conversation (
    channel_id, contact_id, status, opened_at, last_customer_message_at, last_activity_at,
    resolution, last_message_preview)
SELECT ch.first + g %% %(channels)s, co.first + g, 'new',
       %(now)s::timestamptz - (g %% 3600) * interval '1 second',
       %(now)s::timestamptz - (g %% 3600) * interval '1 second',
       %(now)s::timestamptz - (g %% 3600) * interval '1 second', '', 'Hello'
FROM generate_series(0, %(n)s - 1) g
CROSS JOIN (SELECT min(id) AS first FROM channels_app_channel) ch
CROSS JOIN (SELECT min(id) AS first FROM conversations_contact) co
"""

# Three clocks per conversation; clock k of conversation c alerts at NOW + a spread over 24 h
# (warning first: alert_at = warn_at, due 20 minutes later).
TARGET_SQL = """
INSERT INTO service_levels_slatarget (
    conversation_id, channel_id, kind, state, business, target_s, started_at, warn_at, due_at,
    alert_at)
SELECT c.id, c.channel_id, k.kind, 'running', false, 6000, c.opened_at,
       a.at, a.at + interval '20 minutes', a.at
FROM conversations_conversation c
CROSS JOIN (VALUES (0, 'first_response'), (1, 'resolution'), (2, 'window')) k(n, kind)
CROSS JOIN LATERAL (
    SELECT %(now)s::timestamptz
           + ((abs(hashint4((c.id * 3 + k.n)::int)) %% 86400) * interval '1 second') AS at) a
"""

RESET_SQL = """
UPDATE service_levels_slatarget SET state = 'running', warned_at = NULL, breached_at = NULL,
       settled_at = NULL, agent_id = NULL, alert_at = warn_at
"""


def ensure_dataset(n: int) -> None:
    from django.core.management import call_command
    from django.db import connection, transaction

    call_command("migrate", verbosity=0)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM service_levels_slatarget")
        if cursor.fetchone()[0] == 3 * n:
            print(f"dataset: reusing {3 * n:,} clocks", file=sys.stderr)
            return
        started = time.perf_counter()
        cursor.execute(
            "TRUNCATE service_levels_slatarget, conversations_event, conversations_message,"
            " conversations_conversation, conversations_contact, channels_app_channel"
            " RESTART IDENTITY CASCADE"
        )
        params = {"now": NOW, "channels": CHANNELS, "n": n}
        insert_channels(
            cursor, CHANNELS, name_prefix="sla bench ", phone_prefix="sla-bench-", now=NOW
        )
        for sql in (CONTACT_SQL, CONVERSATION_SQL, TARGET_SQL):
            cursor.execute(sql, params)
        print(f"dataset: {3 * n:,} clocks in {time.perf_counter() - started:.1f} s",
              file=sys.stderr)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE service_levels_slatarget")
        cursor.execute("VACUUM ANALYZE conversations_conversation")


class DbTimer:
    """Sums the round trip of every statement the sweep sends."""

    def __init__(self):
        self.seconds = 0.0
        self.statements = 0

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started
            self.statements += 1


def _reset() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(RESET_SQL)
        cursor.execute("TRUNCATE conversations_event")
        cursor.execute("VACUUM ANALYZE service_levels_slatarget")


def steady_state(ticks: int) -> dict:
    from django.db import connection

    from service_levels import sweep

    _reset()
    runs = []
    now = NOW
    for _ in range(ticks):
        now += TICK
        timer = DbTimer()
        started = time.perf_counter()
        with connection.execute_wrapper(timer):
            summary = sweep.sweep(now=now)
        runs.append({
            "wall_s": time.perf_counter() - started,
            "db_s": timer.seconds,
            "statements": timer.statements,
            "alerts": sum(summary.counts.values()),
        })
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM conversations_event"
            " WHERE kind IN ('sla_warning', 'sla_breached', 'window_closing')"
        )
        recorded = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*) FROM service_levels_slatarget WHERE warned_at IS NOT NULL"
            " AND warned_at - warn_at > interval '60 seconds'"
        )
        late = cursor.fetchone()[0]
        cursor.execute(
            "SELECT max(extract(epoch FROM warned_at - warn_at)) FROM service_levels_slatarget"
            " WHERE warned_at IS NOT NULL"
        )
        max_lateness = float(cursor.fetchone()[0] or 0)
        cursor.execute(
            "SELECT count(*) FROM service_levels_slatarget WHERE alert_at <= %s", [now]
        )
        left = cursor.fetchone()[0]
    db = [r["db_s"] for r in runs]
    return {
        "ticks": ticks,
        "alerts": sum(r["alerts"] for r in runs),
        "events": recorded,
        "db_s_median": statistics.median(db),
        "db_s_max": max(db),
        "wall_s_max": max(r["wall_s"] for r in runs),
        "statements_max": max(r["statements"] for r in runs),
        "max_lateness_s": max_lateness,
        "later_than_60s": late,
        "left_due": left,
    }


def outage(days: int = 5) -> dict:
    from django.db import connection

    from service_levels import sweep

    _reset()
    now = NOW + timedelta(days=days)
    timer = DbTimer()
    started = time.perf_counter()
    with connection.execute_wrapper(timer):
        summary = sweep.sweep(now=now)
    wall = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM service_levels_slatarget WHERE alert_at <= %s", [now])
        left = cursor.fetchone()[0]
    return {
        "wall_s": wall,
        "db_s": timer.seconds,
        "batches": summary.batches,
        "alerts": dict(summary.counts),
        "left_due": left,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--ticks", type=int, default=40)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    url = os.environ.get("DATABASE_URL", "")
    if "bench" not in url.rsplit("/", 1)[-1]:
        print("DATABASE_URL must name a database containing 'bench'", file=sys.stderr)
        return 2
    _setup_django()
    ensure_dataset(args.conversations)
    result = {
        "conversations": args.conversations,
        "clocks": 3 * args.conversations,
        "steady": steady_state(args.ticks),
        "outage": outage(),
    }
    result["met"] = {
        "db_under_1s": result["steady"]["db_s_max"] < TARGET_DB_SECONDS,
        "flagged_within_60s": result["steady"]["later_than_60s"] == 0
        and result["steady"]["left_due"] == 0,
        "outage_one_pass": result["outage"]["left_due"] == 0,
    }
    print(json.dumps(result, indent=None if args.json else 2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
