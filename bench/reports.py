"""Benchmark the supervisor reports page on PostgreSQL with 1,000,000 messages in the range.

    .venv/bin/python -m bench.pg start --db desk_rbench    # prints the DATABASE_URL (port 5499)
    DATABASE_URL=postgres://bench:bench@127.0.0.1:5499/desk_rbench .venv/bin/python -m bench.reports
        [--runs N] [--regenerate] [--explain]

or from Python: ``bench.reports.run(database_url=..., runs=10) -> dict``.

Builds (once; reused while it is complete) one channel with 200,000 conversations opened over 30
days (Europe/Berlin) and 5 messages each (1,000,000 messages, all inside the range), their
events, tags and topics, plus a second, smaller channel that the report must leave out; all with
INSERT ... SELECT generate_series. Then renders the page server-side through Django's test client
as a Supervisor of the big channel, several times, and prints the median and p95 time, the query
count and the slowest queries, with PASS/FAIL against 1 s. The loader bypasses the services, so it
rebuilds the reports' pre-aggregates afterwards (``reports.tallies.rebuild``, timed: the
tallies of every hour before the roll-up watermark, and the first responders); ``resolved_by``
is written by the loader with the resolving events.
``--explain`` prints EXPLAIN ANALYZE of every report query.

The database name must contain "bench": the dataset step truncates the desk's tables.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bench.seed import insert_channels

TZ = ZoneInfo("Europe/Berlin")
FIRST, LAST = date(2025, 12, 2), date(2025, 12, 31)  # 30 days
NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
CONVERSATIONS = 200_000
NOISE_CONVERSATIONS = 20_000
MESSAGES_PER_CONVERSATION = 5
AGENTS = 20
TAGS, TOPICS = 10, 5
TARGET_SECONDS = 1.0
SUPERVISOR = "rbench-supervisor"


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


# --- dataset -------------------------------------------------------------------------------

USERS_SQL = """
INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,
                       is_active, date_joined)
SELECT '!', false, 'rbench-agent-' || g, 'Agent', lpad(g::text, 2, '0'), '', false, true, %(now)s
FROM generate_series(1, %(agents)s) g
UNION ALL
SELECT '!', false, %(supervisor)s, 'Sam', 'Supervisor', '', false, true, %(now)s
"""

# Conversation g of a channel: opened evenly over the range (minus 5 hours, so that all five
# messages fall inside it). The hash of g stands in for random(), so a rebuild is identical:
# 10 % New and unanswered, 20 % Pending, 50 % resolved by an agent, 20 % auto-resolved; first
# response 10 s .. 4 h; resolution up to a day after it.
CONVERSATION_SQL = """
INSERT INTO conversations_conversation (
    channel_id, contact_id, status, assignee_id, opened_at, last_customer_message_at,
    last_activity_at, first_response_at, resolved_at, resolution, last_message_preview)
SELECT %(channel)s, co.first + %(offset)s + g, s.status,
       CASE WHEN s.status <> 'resolved' AND s.answered THEN ag.first + g %% %(agents)s END,
       t.opened, t.opened,
       COALESCE(t.resolved, t.opened + interval '15 minutes' + t.frt),
       CASE WHEN s.answered THEN t.opened + t.frt END,
       t.resolved,
       CASE s.status WHEN 'resolved' THEN s.resolution ELSE '' END,
       'Hello, I have a question about my order'
FROM generate_series(0, %(n)s - 1) g
CROSS JOIN (SELECT min(id) AS first FROM conversations_contact) co
CROSS JOIN (SELECT min(id) AS first FROM auth_user WHERE username LIKE 'rbench-agent-%%') ag
CROSS JOIN LATERAL (SELECT abs(hashint4(g * 7 + %(offset)s)) %% 100 AS h) r
CROSS JOIN LATERAL (
    SELECT CASE WHEN r.h < 30 THEN (CASE WHEN r.h < 10 THEN 'new' ELSE 'pending' END)
                ELSE 'resolved' END AS status,
           r.h >= 10 AS answered,
           CASE WHEN r.h < 80 THEN 'agent' ELSE 'auto_pending' END AS resolution) s
CROSS JOIN LATERAL (
    SELECT %(start)s::timestamptz
               + (g::float8 / %(n)s * %(span_s)s) * interval '1 second' AS opened,
           (10 + abs(hashint4(g + 17)) %% 14390) * interval '1 second' AS frt) t0
CROSS JOIN LATERAL (
    SELECT t0.opened, t0.frt,
           CASE WHEN s.status = 'resolved' AND s.answered
                THEN t0.opened + t0.frt + (abs(hashint4(g + 31)) %% 86400) * interval '1 second'
           END AS resolved) t
"""

# Five messages per conversation: in, reply, in, reply, in (all inbound when unanswered). The
# first reply is at first_response_at, by agent (id mod 20); 1 reply in 33 is a template sent
# outside the 24-hour window.
MESSAGE_SQL = """
INSERT INTO conversations_message (
    conversation_id, channel_id, direction, type, body, payload, provider_message_id,
    reply_to_provider_id, delivery, failure_code, failure_reason, author_id, template_id,
    sent_outside_window, attempts, created_at, sent_at, delivered_at, read_at)
SELECT c.id, c.channel_id, d.direction, 'text', 'bench message', '{}'::jsonb,
       'rbench-' || c.id || '-' || k, '',
       CASE d.direction WHEN 'in' THEN 'received' ELSE 'read' END, NULL, '',
       CASE WHEN d.direction = 'out' THEN ag.first + (c.id + k / 3) %% %(agents)s END, NULL,
       d.direction = 'out' AND k = 3 AND c.id %% 33 = 0, 0, d.at, d.at, NULL, NULL
FROM conversations_conversation c
CROSS JOIN generate_series(0, %(per)s - 1) k
CROSS JOIN (SELECT min(id) AS first FROM auth_user WHERE username LIKE 'rbench-agent-%%') ag
CROSS JOIN LATERAL (
    SELECT CASE WHEN c.first_response_at IS NOT NULL AND k IN (1, 3) THEN 'out' ELSE 'in' END
               AS direction,
           CASE WHEN c.first_response_at IS NULL THEN c.opened_at + k * interval '1 minute'
                WHEN k = 0 THEN c.opened_at
                ELSE c.first_response_at + (k - 1) * interval '5 minutes' END AS at) d
"""

EVENT_SQL = """
INSERT INTO conversations_event (conversation_id, kind, actor_id, data, created_at)
SELECT c.id, 'opened', NULL, '{}'::jsonb, c.opened_at FROM conversations_conversation c
UNION ALL
SELECT c.id, 'status_changed', ag.first + c.id %% %(agents)s,
       '{"from": "pending", "to": "resolved"}'::jsonb, c.resolved_at
FROM conversations_conversation c
CROSS JOIN (SELECT min(id) AS first FROM auth_user WHERE username LIKE 'rbench-agent-%%') ag
WHERE c.resolution = 'agent'
UNION ALL
SELECT c.id, 'auto_resolved', NULL, '{"rule": "pending", "from": "pending", "to": "resolved"}',
       c.resolved_at
FROM conversations_conversation c WHERE c.resolution = 'auto_pending'
UNION ALL
SELECT c.id, 'status_changed', ag.first + c.id %% %(agents)s,
       '{"from": "resolved", "to": "new", "reopened": true}'::jsonb,
       c.first_response_at + interval '1 hour'
FROM conversations_conversation c
CROSS JOIN (SELECT min(id) AS first FROM auth_user WHERE username LIKE 'rbench-agent-%%') ag
WHERE c.status = 'pending' AND c.id %% 10 = 0
"""

LABEL_SQL = [
    "INSERT INTO conversations_tag (name, color)"
    " SELECT 'bench-tag-' || g, '#64748b' FROM generate_series(1, %(tags)s) g",
    "INSERT INTO conversations_topic (name, description)"
    " SELECT 'Bench topic ' || g, '' FROM generate_series(1, %(topics)s) g",
    # Half the conversations carry one of the tags, a third one of the topics.
    "INSERT INTO conversations_conversation_tags (conversation_id, tag_id)"
    " SELECT c.id, t.first + c.id %% %(tags)s FROM conversations_conversation c"
    " CROSS JOIN (SELECT min(id) AS first FROM conversations_tag) t WHERE c.id %% 2 = 0",
    "INSERT INTO conversations_conversation_topics (conversation_id, topic_id)"
    " SELECT c.id, t.first + c.id %% %(topics)s FROM conversations_conversation c"
    " CROSS JOIN (SELECT min(id) AS first FROM conversations_topic) t WHERE c.id %% 3 = 0",
]

TABLES = (
    "conversations_messagetally",
    "conversations_tallywatermark",
    "reports_conversationtally",
    "reports_costtally",
    "conversations_conversation_tags",
    "conversations_conversation_topics",
    "conversations_event",
    "conversations_message",
    "conversations_note",
    "conversations_conversation",
    "conversations_contact",
    "conversations_tag",
    "conversations_topic",
    "channels_app_accessgrant",
    "channels_app_channel",
)


def _scalar(cursor, sql: str, params=None):
    cursor.execute(sql, params)
    return cursor.fetchone()[0]


def _drop_secondary_indexes(cursor, table: str) -> list[str]:
    """Drop the indexes that back no constraint; return their definitions to rebuild.

    Loading into a table without its secondary indexes and building them afterwards by sorting
    is several times faster than maintaining them row by row.
    """
    cursor.execute(
        "SELECT pg_get_indexdef(i.indexrelid), i.indexrelid::regclass::text FROM pg_index i"
        " WHERE i.indrelid = %s::regclass AND NOT EXISTS"
        " (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)",
        [table],
    )
    indexes = cursor.fetchall()
    for _, name in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    return [definition for definition, _ in indexes]


def _bench_channel_id(cursor) -> int | None:
    cursor.execute("SELECT id FROM channels_app_channel WHERE display_name = 'Reports bench'")
    row = cursor.fetchone()
    return row[0] if row else None


def ensure_dataset(*, regenerate: bool, conversations: int = CONVERSATIONS) -> int:
    """Build the dataset unless a complete one is there; return the big channel's id."""
    from django.core.management import call_command
    from django.db import connection

    from conversations import partitions

    call_command("migrate", verbosity=0)
    start = datetime.combine(FIRST, datetime.min.time(), tzinfo=TZ)
    end = datetime.combine(LAST + timedelta(days=1), datetime.min.time(), tzinfo=TZ)
    span_s = (end - start).total_seconds() - 5 * 3600
    want = conversations * MESSAGES_PER_CONVERSATION
    with connection.cursor() as cursor:
        channel_id = _bench_channel_id(cursor)
        if channel_id and not regenerate:
            have = _scalar(
                cursor,
                "SELECT count(*) FROM conversations_message WHERE channel_id = %s",
                [channel_id],
            )
            tallied = _scalar(
                cursor,
                "SELECT COALESCE(sum(count), 0) FROM conversations_messagetally"
                " WHERE channel_id = %s",
                [channel_id],
            )
            if (
                have == want
                and tallied == want
                and _scalar(cursor, "SELECT count(*) FROM conversations_tallywatermark")
                # The conversation roll-up (session 7) is there too.
                and _scalar(cursor, "SELECT EXISTS (SELECT 1 FROM reports_conversationtally)")
            ):
                print(f"dataset: reusing {have:,} messages")
                return channel_id
            if have == want:
                _rebuild_preaggregates()
                return channel_id
        started = time.perf_counter()
        cursor.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
        cursor.execute(
            "DELETE FROM channels_app_profile WHERE user_id IN"
            " (SELECT id FROM auth_user WHERE username LIKE %s)",
            ["rbench-%"],
        )
        cursor.execute("DELETE FROM auth_user WHERE username LIKE %s", ["rbench-%"])
        params = {"now": NOW, "agents": AGENTS, "supervisor": SUPERVISOR}
        # The channel the report reads, "Reports bench", and a smaller one it must leave out.
        month = timedelta(days=30)
        insert_channels(
            cursor, ["bench", "noise"], name_prefix="Reports ", phone_prefix="rbench-Reports ",
            now=NOW, auto_resolve_new_after=month, auto_resolve_pending_after=month,
            display_phone_number="+1 555 0100",
        )  # fmt: skip
        cursor.execute(USERS_SQL, params)
        channel_id = _bench_channel_id(cursor)
        noise_id = channel_id + 1
        cursor.execute(
            "INSERT INTO conversations_contact (kind, wa_id, profile_name, phone, created_at)"
            " SELECT 'whatsapp', 'rbench' || g, 'Customer ' || g, '+1555' || g, %s"
            " FROM generate_series(1, %s) g",
            [NOW, conversations + NOISE_CONVERSATIONS],
        )
        cursor.execute(
            "INSERT INTO channels_app_accessgrant (channel_id, user_id, team_id, role, created_at)"
            " SELECT %s, id, NULL, 30, %s FROM auth_user WHERE username = %s",
            [channel_id, NOW, SUPERVISOR],
        )
        cursor.execute(
            "INSERT INTO channels_app_profile (user_id, time_zone)"
            " SELECT id, %s FROM auth_user WHERE username = %s",
            [str(TZ), SUPERVISOR],
        )
        # The monthly partitions of the period (docs/partitions.md), before the load.
        partitions.create_months(
            partitions.month_start(start - timedelta(days=31)),
            partitions.add_months(partitions.month_start(end), 1),
        )
        rebuild = []
        for table in ("conversations_conversation", "conversations_message", "conversations_event"):
            rebuild += _drop_secondary_indexes(cursor, table)
        # Consistent by construction: skip the foreign-key triggers while loading.
        cursor.execute("SET session_replication_role = replica")
        for channel, n, offset in (
            (channel_id, conversations, 0),
            (noise_id, NOISE_CONVERSATIONS, conversations),
        ):
            cursor.execute(
                CONVERSATION_SQL,
                {
                    **params,
                    "channel": channel,
                    "n": n,
                    "offset": offset,
                    "start": start,
                    "span_s": span_s,
                },
            )
        cursor.execute(MESSAGE_SQL, {**params, "per": MESSAGES_PER_CONVERSATION})
        cursor.execute(EVENT_SQL, params)
        # Who resolved, as move_conversation keeps it: the actor of the resolving event above.
        cursor.execute(
            "UPDATE conversations_conversation c SET resolved_by_id = ag.first + c.id %% %s"
            " FROM (SELECT min(id) AS first FROM auth_user WHERE username LIKE 'rbench-agent-%%')"
            " ag WHERE c.resolution = 'agent'",
            [AGENTS],
        )
        for sql in LABEL_SQL:
            cursor.execute(sql, {"tags": TAGS, "topics": TOPICS})
        cursor.execute("SET session_replication_role = DEFAULT")
        # The provider ids' key table (its trigger was off with the others for the load).
        cursor.execute("TRUNCATE conversations_messagekey")
        cursor.execute(
            "INSERT INTO conversations_messagekey"
            " SELECT channel_id, provider_message_id, id, created_at FROM conversations_message"
            " WHERE provider_message_id IS NOT NULL"
        )
        cursor.execute("SET maintenance_work_mem = '256MB'")
        for definition in rebuild:
            # A partitioned table's index (ON ONLY) is rebuilt with its partitions' indexes.
            cursor.execute(definition.replace(" ON ONLY ", " ON ", 1))
        cursor.execute("VACUUM (ANALYZE)")
        cursor.execute("CHECKPOINT")
        took = time.perf_counter() - started
        have = _scalar(
            cursor, "SELECT count(*) FROM conversations_message WHERE channel_id = %s", [channel_id]
        )
    print(f"dataset: generated {have:,} messages on the bench channel in {took:.1f} s")
    _rebuild_preaggregates()
    return channel_id


def _rebuild_preaggregates() -> None:
    """The loader bypassed the services (first responders) and wrote messages behind any
    roll-up: rebuild the pre-aggregates and roll the watermark up to now (what ``manage.py
    rebuild_report_tallies`` does), and time it."""
    from django.db import connection

    from reports import tallies

    started = time.perf_counter()
    result = tallies.rebuild()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) conversations_messagetally")
        cursor.execute("VACUUM (ANALYZE) conversations_conversation")
        cursor.execute("VACUUM (ANALYZE) reports_conversationtally")
    print(
        f"pre-aggregates: {result['tallies']:,} tally rows, {result['conversations']:,} first "
        f"responders, {result['conversation_tallies']:,} conversation tally rows rebuilt in "
        f"{time.perf_counter() - started:.1f} s"
    )


# --- measurement -----------------------------------------------------------------------------


def measure(channel_id: int, runs: int) -> dict:
    """Render the page ``runs`` times (after one warm-up); times in seconds, queries of the
    last run with their own times."""
    from django.contrib.auth import get_user_model
    from django.db import connections
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, override_settings

    from config.db_routing import reports_db

    user = get_user_model().objects.get(username=SUPERVISOR)
    params = {
        "channel": channel_id,
        "range": "custom",
        "from": FIRST.isoformat(),
        "to": LAST.isoformat(),
    }
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    times: list[float] = []
    with override_settings(STORAGES=storages, DEBUG=False):
        client = Client()
        client.force_login(user)
        response = client.get("/reports/", params, secure=True)  # warm-up (and session tz)
        assert response.status_code == 200, response.status_code
        # The database the reports read (a replica with DATABASE_REPLICA_URL), whose queries
        # are the page's; the verdict is cached, so the requests below read the same one.
        alias = reports_db()
        for _ in range(runs):
            with CaptureQueriesContext(connections[alias]) as queries:
                started = time.perf_counter()
                response = client.get("/reports/", params, secure=True)
                times.append(time.perf_counter() - started)
            assert response.status_code == 200
    from reports import build, figures

    # The figures the page showed, recomputed once (the test client keeps no context here).
    report = build.build_report(
        channel_ids=[channel_id], period=figures.Period(first=FIRST, last=LAST, tz=TZ), now=NOW
    )
    times.sort()
    return {
        "times": times,
        "median": statistics.median(times),
        "p95": times[min(len(times) - 1, round(0.95 * (len(times) - 1)))],
        "queries": list(queries.captured_queries),
        "report": report,
        "database": alias,
    }


def explain(channel_id: int) -> None:
    """EXPLAIN ANALYZE every query the report runs."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from reports import build, figures

    period = figures.Period(first=FIRST, last=LAST, tz=TZ)
    with CaptureQueriesContext(connection) as queries:
        build.build_report(channel_ids=[channel_id], period=period, now=NOW)
    total = 0.0
    with transaction.atomic(), connection.cursor() as cursor:
        # The settings build_report itself takes for this period.
        whole = build._whole_hours(period)
        cursor.execute(build.ROLLUP_SETTINGS if whole else build.SESSION_SETTINGS)
        for q in queries.captured_queries:
            if not q["sql"].startswith("SELECT"):
                continue
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + q["sql"])
            lines = [row[0] for row in cursor.fetchall()]
            total += sum(
                float(line.split()[2]) for line in lines if line.startswith("Execution Time:")
            )
            print("\n".join(lines))
            print("-" * 100)
    print(f"sum of the statements' execution times (EXPLAIN ANALYZE): {total:.0f} ms")


def run(
    *,
    database_url: str | None = None,
    runs: int = 10,
    regenerate: bool = False,
    conversations: int = CONVERSATIONS,
) -> dict:
    """Build (or reuse) the dataset and time the page; the result for a bench harness.

    ``database_url`` is used when Django is not set up yet (otherwise the configured database
    is). Keys: name, rows (messages in the range), conversations, median_ms, p95_ms, min_ms,
    max_ms, runs, queries (statements per page), target_ms, passed (median under target).
    """
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    _setup_django()
    from django.db import connection

    if connection.vendor != "postgresql" or "bench" not in connection.settings_dict["NAME"]:
        raise SystemExit("set DATABASE_URL to a PostgreSQL database whose name contains 'bench'")
    channel_id = ensure_dataset(regenerate=regenerate, conversations=conversations)
    result = measure(channel_id, max(1, runs))
    s = result["report"].summary
    return {
        "name": f"reports page, {conversations * MESSAGES_PER_CONVERSATION:,} messages in range",
        "rows": s.messages_in + s.messages_out,
        "conversations": s.opened,
        "median_ms": round(result["median"] * 1000, 1),
        "p95_ms": round(result["p95"] * 1000, 1),
        "min_ms": round(result["times"][0] * 1000, 1),
        "max_ms": round(result["times"][-1] * 1000, 1),
        "runs": len(result["times"]),
        "queries": len(result["queries"]),
        "database": result["database"],
        "target_ms": TARGET_SECONDS * 1000,
        "passed": result["median"] < TARGET_SECONDS,
        "_detail": result,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--regenerate", action="store_true", help="rebuild the dataset")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE each query")
    parser.add_argument(
        "--conversations", type=int, default=CONVERSATIONS,
        help=f"conversations in range, {MESSAGES_PER_CONVERSATION} messages each",
    )  # fmt: skip
    args = parser.parse_args(argv)

    if args.explain:
        _setup_django()
        explain(ensure_dataset(regenerate=args.regenerate, conversations=args.conversations))
        return
    out = run(runs=args.runs, regenerate=args.regenerate, conversations=args.conversations)
    result = out.pop("_detail")
    s = result["report"].summary
    print(
        f"report {FIRST}..{LAST} ({TZ}): {out['rows']:,} messages in range, "
        f"{s.opened:,} conversations opened, {s.resolved:,} resolved, {s.reopened:,} reopened, "
        f"{len(result['report'].agents)} agents"
    )
    print(f"queries per page: {out['queries']}")
    for q in sorted(result["queries"], key=lambda q: -float(q["time"]))[:6]:
        print(f"  {float(q['time']) * 1000:7.1f} ms  {q['sql'][:110]}")
    verdict = "PASS" if out["passed"] else "FAIL"
    print(
        f"page time over {out['runs']} runs: median {out['median_ms']:.0f} ms, "
        f"p95 {out['p95_ms']:.0f} ms, min {out['min_ms']:.0f} ms, max {out['max_ms']:.0f} ms "
        f"(target < {TARGET_SECONDS:.0f} s: {verdict})"
    )


if __name__ == "__main__":
    main()
