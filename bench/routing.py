"""Benchmark routing (issue 17) on PostgreSQL: routing a New conversation at 1,000,000
conversations and 500 Available agents, and the snooze sweep at 100,000 snoozed conversations.

    DATABASE_URL=postgres://desk:desk@127.0.0.1:5432/desk_routing_bench \\
        .venv/bin/python -m bench.routing [--conversations N] [--snoozed N] [--runs R] [--json]

Builds (once; reused while the counts match) N conversations over 20 channels with INSERT ...
SELECT generate_series: ~6 % open (New/Pending, a third of them assigned to the 500 agents),
the rest Resolved; the 500 agents are Contributors on the push channel, Available, capacity 5.

Routing: each timed run inserts one New conversation on the push channel and queues it (not
timed), then times ``engine.route_waiting`` for that channel: candidates (eligibility through
the access module, load, team capacity, skills), the row locks, the assignment through
conversations.services.assign with its event. p50/p95 over ``--runs``.

Snooze: ``--snoozed`` conversations snoozed until times in the past (spread over 5 days, as
after 5 days without a worker), then one ``wake_due`` pass: total time, batches, slowest batch.
Target: each wakes ≤ 60 s after its time, i.e. one pass over 100,000 well under the 15 s beat
period plus the 60 s budget.

The database name must contain "bench": the dataset step truncates the desk's tables.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime

from bench.seed import insert_channels

NOW = datetime(2026, 1, 1, tzinfo=UTC)
CHANNELS = 20
AGENTS = 500
TARGET_ROUTE_P95_MS = 50.0
TARGET_WAKE_S = 60.0


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


CONTACT_SQL = """
INSERT INTO conversations_contact (kind, wa_id, profile_name, phone, created_at)
SELECT 'whatsapp', 'rb' || g, 'Customer ' || g, '+1555' || g, %(now)s
FROM generate_series(1, %(contacts)s) g
"""
AGENT_SQL = """
INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff,
                       is_active, date_joined)
SELECT '!', false, 'rb-agent-' || g, 'Agent', '' || g, '', false, true, %(now)s
FROM generate_series(1, %(agents)s) g
"""
GRANT_SQL = """
INSERT INTO channels_app_accessgrant (channel_id, user_id, team_id, role, created_at)
SELECT (SELECT min(id) FROM channels_app_channel), u.id, NULL, 20, %(now)s
FROM auth_user u WHERE u.username LIKE 'rb-agent-%%'
"""
STATE_SQL = """
INSERT INTO routing_agentstate (user_id, availability, chosen, idle, open_pages, capacity,
                                languages, changed_at, last_activity_at, away_due_at)
SELECT u.id, 'available', 'available', false, 1, 5, '', %(now)s, %(now)s,
       %(now)s + interval '100 days'
FROM auth_user u WHERE u.username LIKE 'rb-agent-%%'
"""
# Conversation g: channel g % 20, contact g (one conversation per contact, so one open each).
# 3 % New, 3 % Pending (one open in 60 assigned: two per agent on average), the rest
# Resolved; activity over the 90 days before NOW.
CONVERSATION_SQL = """
INSERT INTO conversations_conversation (
    channel_id, contact_id, status, assignee_id, opened_at, last_customer_message_at,
    last_activity_at, resolved_at, resolution, last_message_preview)
SELECT ch.first + g %% %(channels)s, co.first + g, s.status,
       CASE WHEN s.status <> 'resolved' AND g %% 60 = 0 THEN ag.first + (g / 60) %% %(agents)s END,
       t.at - interval '1 hour', t.at, t.at,
       CASE WHEN s.status = 'resolved' THEN t.at END,
       CASE WHEN s.status = 'resolved' THEN 'agent' ELSE '' END,
       'Hello, I have a question about my order'
FROM generate_series(0, %(conversations)s - 1) g
CROSS JOIN (SELECT min(id) AS first FROM channels_app_channel) ch
CROSS JOIN (SELECT min(id) AS first FROM conversations_contact) co
CROSS JOIN (SELECT min(id) AS first FROM auth_user WHERE username LIKE 'rb-agent-%%') ag
CROSS JOIN LATERAL (SELECT abs(hashint4(g)) %% 1000 AS h) r
CROSS JOIN LATERAL (SELECT CASE WHEN r.h < 30 THEN 'new' WHEN r.h < 60 THEN 'pending'
                                ELSE 'resolved' END AS status) s
CROSS JOIN LATERAL (SELECT %(now)s::timestamptz
                           - (abs(hashint4(g + 7919)) %% (90 * 86400)) * interval '1 second'
                           AS at) t
"""


def build(conversations: int) -> None:
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM conversations_conversation")
        have = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM routing_agentstate")
        agents = cursor.fetchone()[0]
    # The timed runs add a few hundred conversations of their own (resolved afterwards).
    if conversations <= have <= conversations + 10_000 and agents == AGENTS:
        print(f"dataset: reusing {have:,} conversations", file=sys.stderr)
        return
    params = {
        "now": NOW,
        "channels": CHANNELS,
        "contacts": conversations,
        "agents": AGENTS,
        "conversations": conversations,
    }
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE conversations_event, conversations_message, conversations_note,"
            " conversations_conversation_tags, conversations_conversation_topics,"
            " routing_waiting, routing_agentstate_topics, routing_agentstate,"
            " routing_channelrouting, conversations_conversation, conversations_contact,"
            " channels_app_accessgrant, channels_app_channel CASCADE"
        )
        cursor.execute("DELETE FROM auth_user WHERE username LIKE 'rb-agent-%%'")
    with connection.cursor() as cursor:
        # No WhatsApp identity beyond the phone number id (as the ORM's defaults left them).
        insert_channels(
            cursor, CHANNELS, name_prefix="routing bench ", phone_prefix="rbench-",
            now=timezone.now(), waba_id="", display_phone_number="", verified_name="",
        )  # fmt: skip
        for sql in (CONTACT_SQL, AGENT_SQL, GRANT_SQL, STATE_SQL, CONVERSATION_SQL):
            cursor.execute(sql, params)
        cursor.execute(
            "INSERT INTO routing_channelrouting (channel_id, push, fallback_after)"
            " SELECT min(id), true, interval '5 minutes' FROM channels_app_channel"
        )
        cursor.execute("ANALYZE")
    print(f"dataset: {conversations:,} built in {time.perf_counter() - started:.0f} s",
          file=sys.stderr)  # fmt: skip


def _announcements_muted():
    """The receivers of conversations.signals (live push, routing's own, SLA, automations, API
    webhooks) disconnected: what routing itself costs. Returns a function that reconnects."""
    from conversations import signals

    saved = {s: list(s.receivers) for s in (signals.conversation_changed,)}
    for s in saved:
        s.receivers = []
        s.sender_receivers_cache.clear()

    def restore() -> None:
        for s, receivers in saved.items():
            s.receivers = receivers
            s.sender_receivers_cache.clear()

    return restore


RESET_SQL = [
    "DELETE FROM routing_waiting",
    # Whatever earlier runs left open (their own conversations, a snooze run's woken ones).
    """UPDATE conversations_conversation SET status = 'resolved', resolution = 'agent',
              resolved_at = %(now)s, assignee_id = NULL, snoozed_until = NULL
        WHERE status <> 'resolved' AND (
              contact_id IN (SELECT id FROM conversations_contact WHERE wa_id LIKE 'rbrun%%')
              OR id IN (SELECT conversation_id FROM conversations_event
                         WHERE kind = 'status_changed' AND data->>'reason' = 'snooze_ended'))""",
    # The dataset's assignments: one open conversation in 60, two per agent on average.
    """UPDATE conversations_conversation c
          SET assignee_id = CASE WHEN (c.id - m.first) %% 60 = 0
                                 THEN ag.first + ((c.id - m.first) / 60) %% %(agents)s END
         FROM (SELECT min(id) AS first FROM conversations_conversation) m,
              (SELECT min(id) AS first FROM auth_user WHERE username LIKE 'rb-agent-%%') ag
        WHERE c.status IN ('new', 'pending')""",
    "DELETE FROM conversations_event WHERE kind = 'status_changed'"
    " AND data->>'reason' = 'snooze_ended'",
]


def reset() -> None:
    """Every run starts from the dataset's state: nobody waiting, agents at their base load."""
    from django.db import connection

    with connection.cursor() as cursor:
        for sql in RESET_SQL:
            cursor.execute(sql, {"now": NOW, "agents": AGENTS})


def bench_routing(runs: int) -> dict:
    reset()
    alone = _route_runs(runs, muted=True)
    everything = _route_runs(max(20, runs // 4), muted=False)
    return {**alone, "with_receivers": everything}


def _route_runs(runs: int, *, muted: bool) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from conversations.models import Contact, Conversation
    from routing import engine, queue
    from routing.models import ChannelRouting

    routing = ChannelRouting.objects.select_related("channel").get(push=True)
    channel = routing.channel
    timings, routed, queries, db_ms = [], 0, [], []
    restore = _announcements_muted() if muted else (lambda: None)
    for i in range(runs):
        contact = Contact.objects.create(wa_id=f"rbrun{time.time_ns()}{i}", profile_name="Run")
        now = datetime.now(UTC)
        conv = Conversation.objects.create(
            channel=channel, contact=contact, opened_at=now, last_customer_message_at=now,
            last_activity_at=now,
        )  # fmt: skip
        queue.enqueue([conv.pk], now=now)
        connection.queries_log.clear()  # a full log (9,000) would capture nothing
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            result = engine.route_waiting(now=now, channel_ids=[channel.pk])
            timings.append((time.perf_counter() - started) * 1000)
        queries.append(len(captured.captured_queries))
        db_ms.append(sum(float(q["time"]) for q in captured.captured_queries) * 1000)
        routed += conv.pk in result
        if i % 50 == 49:  # keep room: the routed conversations are resolved (not timed)
            Conversation.objects.filter(contact__wa_id__startswith="rbrun").exclude(
                status="resolved"
            ).update(status="resolved", assignee=None, resolution="agent", resolved_at=now)
    restore()
    Conversation.objects.filter(contact__wa_id__startswith="rbrun").exclude(
        status="resolved"
    ).update(status="resolved", assignee=None, resolution="agent", resolved_at=now)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM conversations_conversation")
        total = cursor.fetchone()[0]
    timings.sort()
    p95 = timings[max(0, int(len(timings) * 0.95) - 1)]
    return {
        "conversations": total,
        "agents": AGENTS,
        "runs": runs,
        "routed": routed,
        "p50_ms": round(statistics.median(timings), 2),
        "p95_ms": round(p95, 2),
        "max_ms": round(timings[-1], 2),
        "queries": round(statistics.median(queries)),
        "db_ms_p50": round(statistics.median(db_ms), 2),
        "target_p95_ms": TARGET_ROUTE_P95_MS,
        "met": p95 <= TARGET_ROUTE_P95_MS and routed == runs,
    }


def bench_snooze(snoozed: int, batch_size: int) -> dict:
    from django.db import connection

    from conversations.services import snooze

    # Put `snoozed` open conversations to sleep until times spread over the 5 days before now.
    now = datetime.now(UTC)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE conversations_conversation SET status = 'resolved', resolution ="
                       " 'agent', resolved_at = %s, assignee_id = NULL, snoozed_until = NULL"
                       " WHERE status = 'snoozed'", [now])  # fmt: skip
        cursor.execute(
            """
            WITH pick AS (
                SELECT id FROM conversations_conversation
                 WHERE status = 'resolved' AND contact_id NOT IN (
                       SELECT contact_id FROM conversations_conversation
                        WHERE status IN ('new', 'pending'))
                 ORDER BY id LIMIT %(n)s)
            UPDATE conversations_conversation c
               SET status = 'snoozed', resolution = '', resolved_at = NULL,
                   snoozed_until = %(now)s - (c.id %% (5 * 86400)) * interval '1 second'
              FROM pick WHERE c.id = pick.id
            """,
            {"n": snoozed, "now": now},
        )
        cursor.execute("DELETE FROM conversations_event WHERE data->>'reason' = 'snooze_ended'")
        cursor.execute("VACUUM ANALYZE conversations_conversation")
    # The sweep's own work (the moves, batch after batch); the announcement's receivers (live
    # push, SLA, routing) run after the last batch and are not in this figure.
    restore = _announcements_muted()
    started = time.perf_counter()
    batch_times = []
    woken = 0
    while True:
        t0 = time.perf_counter()
        ids = snooze.wake_due(now=now, batch_size=batch_size, max_batches=1)
        batch_times.append((time.perf_counter() - t0) * 1000)
        woken += len(ids)
        if len(ids) < batch_size:
            break
    elapsed = time.perf_counter() - started
    restore()
    reset()
    return {
        "snoozed": snoozed,
        "woken": woken,
        "batches": len(batch_times),
        "batch_size": batch_size,
        "elapsed_s": round(elapsed, 2),
        "slowest_batch_ms": round(max(batch_times), 1),
        "target_s": TARGET_WAKE_S,
        # The beat period (15 s) plus one pass: the latest any row wakes after its time.
        "met": woken == snoozed and 15 + elapsed <= TARGET_WAKE_S,
    }


def rows(result: dict) -> list[list[str]]:
    """The result as bench.run's table rows (workload | measure | ours | floor | ratio | target
    | met?)."""

    def ms(v: float) -> str:
        return f"{v:,.1f} ms"

    out = []
    route = result.get("route")
    if route:
        scale = f"{route['conversations']:,} conversations, {route['agents']} agents"
        every = route["with_receivers"]
        out.append([
            f"Route a New conversation ({scale})", "p50 / p95, routing alone",
            f"{ms(route['p50_ms'])} / {ms(route['p95_ms'])}",
            f"{route['queries']} queries, DB {ms(route['db_ms_p50'])} p50", "",
            "p95 ≤ 50 ms", "yes" if route["met"] else "NO",
        ])  # fmt: skip
        out.append([
            "Route a New conversation", "p50 / p95 with the announcement's receivers",
            f"{ms(every['p50_ms'])} / {ms(every['p95_ms'])}",
            f"{every['queries']} queries (live push, SLA, API, routing)", "", "–", "–",
        ])  # fmt: skip
    snooze = result.get("snooze")
    if snooze:
        out.append([
            f"Snooze wake, {snooze['snoozed']:,} overdue (5 days)",
            "one pass / slowest batch",
            f"{snooze['elapsed_s']:,.1f} s / {ms(snooze['slowest_batch_ms'])}",
            f"{snooze['batches']} batches of {snooze['batch_size']:,}, woken {snooze['woken']:,}",
            "", "each ≤ 60 s after its time", "yes" if snooze["met"] else "NO",
        ])  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=1_000_000)
    parser.add_argument("--snoozed", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--only", default="route,snooze")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    _setup_django()
    from django.conf import settings

    name = settings.DATABASES["default"]["NAME"]
    if "bench" not in name:
        print(f"refusing to truncate {name!r}: the database name must contain 'bench'",
              file=sys.stderr)  # fmt: skip
        return 1
    build(args.conversations)
    result = {}
    only = {w.strip() for w in args.only.split(",")}
    if "route" in only:
        result["route"] = bench_routing(args.runs)
    if "snooze" in only:
        result["snooze"] = bench_snooze(args.snoozed, args.batch_size)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
