"""Benchmark the composer's saved-reply search over 5,000 saved replies on PostgreSQL.

    DATABASE_URL=postgres://desk:desk@127.0.0.1:5432/desk_replies_bench \\
        .venv/bin/python -m bench.replies [--replies 5000] [--warmups 3] [--runs 30] [--json]
        [--explain]

or from ``make bench`` (bench.run, workload ``replies``). The database name must contain
"bench": the dataset step empties the desk's tables there.

Dataset (rebuilt each run, a few seconds): one channel, 20 agents (Contributors on it), 10
teams of two; the saved replies split 40 % personal (spread over the agents), 40 % team (over
the teams), 20 % global, half English and half German, with placeholders, made through
``bulk_create`` so that the generated ``search_text`` column and the trigram index are the
production ones. The agent timed sees their own personal replies, their team's and the global
ones (1,300 of 5,000).

Measure: ``GET /saved-replies/search/?q=...&conversation=<id>`` through Django's test client
(middleware, access check of the conversation, the search, rendering the previews, JSON), for
the queries an agent types after "/" (one letter to a whole word, a shortcut prefix, German
text, no match, and the picker's empty query); per query the median and p95, the SQL statements
per request, and the floor: the search's own SELECT run raw. The target is p95 ≤ 100 ms over
all requests.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from bench import dataset

DEFAULT_REPLIES = 5_000
AGENTS = 20
TEAMS = 10
TARGET_MS = 100.0
USERNAME = "rpbench-agent-{:02d}"
QUERIES = ["", "r", "re", "ref", "refund", "tracking", "rück", "p00-", "lieferung", "zzqx"]

WORDS_EN = [
    "refund", "order", "tracking", "delivery", "parcel", "invoice", "return", "exchange",
    "warranty", "discount", "size", "colour", "tent", "boots", "jacket", "backpack",
    "stove", "shipping", "address", "payment", "voucher", "apology", "delay", "thanks",
    "welcome", "weekend", "store", "opening", "hours", "catalogue", "repair", "replacement",
]  # fmt: skip
WORDS_DE = [
    "Rückerstattung", "Bestellung", "Sendungsverfolgung", "Lieferung", "Paket", "Rechnung",
    "Rücksendung", "Umtausch", "Garantie", "Rabatt", "Größe", "Farbe", "Zelt", "Stiefel",
    "Jacke", "Rucksack", "Kocher", "Versand", "Adresse", "Zahlung", "Gutschein",
    "Entschuldigung", "Verzögerung", "Danke", "Willkommen", "Wochenende", "Filiale",
    "Öffnungszeiten",
]  # fmt: skip


def _log(message: str) -> None:
    print(f"[bench.replies] {message}", file=sys.stderr, flush=True)


def _p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[round(0.95 * (len(ordered) - 1))]


def _words(i: int, vocabulary: list[str], count: int) -> str:
    # A deterministic spread (no random module): the same dataset every run.
    return " ".join(vocabulary[(i * 7 + k * 13) % len(vocabulary)] for k in range(count))


def build(n: int):
    """Empty the desk's tables and load the bench world; returns (agent, conversation)."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from channels_app.access import Role
    from channels_app.models import AccessGrant, Channel, Team
    from conversations.models import Contact, Conversation
    from replies.models import SavedReply

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE replies_savedreply, channels_app_team, channels_app_channel, "
            "conversations_contact, auth_user RESTART IDENTITY CASCADE"
        )
    started = time.perf_counter()
    channel = Channel.objects.create(display_name="Replies bench", phone_number_id="rpbench-1")
    users = get_user_model().objects.bulk_create(
        [
            get_user_model()(username=USERNAME.format(i), first_name=f"Agent{i}", password="!")  # noqa: S106 (unusable)
            for i in range(AGENTS)
        ]
    )
    AccessGrant.objects.bulk_create(
        [AccessGrant(channel=channel, user=u, role=Role.CONTRIBUTOR) for u in users]
    )
    teams = Team.objects.bulk_create([Team(name=f"Bench team {t}") for t in range(TEAMS)])
    Membership = Team.members.through
    Membership.objects.bulk_create(
        [Membership(team=teams[i % TEAMS], user=u) for i, u in enumerate(users)]
    )
    rows = []
    for i in range(n):
        german = i % 2 == 1
        vocabulary = WORDS_DE if german else WORDS_EN
        kind, k = i % 5, i // 5  # 0, 1: personal; 2, 3: team; 4: global
        if kind < 2:
            scope, owner, team, prefix = "personal", users[(2 * k + kind) % AGENTS], None, "p"
        elif kind < 4:
            scope, owner, team, prefix = "team", None, teams[(2 * k + kind) % TEAMS], "t"
        else:
            scope, owner, team, prefix = "global", None, None, "g"
        title = _words(i, vocabulary, 3).capitalize()
        greeting = "Hallo" if german else "Hi"
        rows.append(
            SavedReply(
                scope=scope,
                owner=owner,
                team=team,
                shortcut=f"{prefix}{i % 100:02d}-{_words(i, vocabulary, 1).lower()}-{i}",
                title=title,
                language="de" if german else "en",
                body=(
                    f"{greeting} {{{{contact.first_name|there}}}}, "
                    f"{_words(i + 1, vocabulary, 25)}. {{{{agent.first_name}}}}, "
                    f"{{{{channel.name}}}}"
                ),
            )
        )
    SavedReply.objects.bulk_create(rows, batch_size=1000)
    contact = Contact.objects.create(wa_id="4915100000001", profile_name="Dana Kim")
    now = timezone.now()
    conversation = Conversation.objects.create(
        channel=channel,
        contact=contact,
        opened_at=now,
        last_customer_message_at=now,
        last_activity_at=now,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE replies_savedreply")
    _log(f"built {n:,} saved replies in {time.perf_counter() - started:.1f} s")
    return users[0], conversation


def _search_sql(captured: list[dict]) -> str:
    for query in captured:
        if 'FROM "replies_savedreply"' in query["sql"]:
            return query["sql"]
    raise SystemExit("bench.replies: no search query among the request's queries")


def measure(n: int = DEFAULT_REPLIES, *, warmups: int = 3, runs: int = 30) -> dict:
    """Build the dataset and time every query; Django must be set up on a bench database."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, override_settings

    agent, conversation = build(n)
    from replies.access import replies_visible_to

    visible = replies_visible_to(agent).count()
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    cases, every = [], []
    with override_settings(STORAGES=storages, DEBUG=False):
        client = Client()
        client.force_login(agent)
        for q in QUERIES:
            url = f"/saved-replies/search/?q={q}&conversation={conversation.pk}"
            samples = []
            for i in range(warmups + runs):
                started = time.perf_counter()
                response = client.get(url, secure=True)
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200:
                    raise SystemExit(f"bench.replies: GET {url} answered {response.status_code}")
                if i >= warmups:
                    samples.append(elapsed)
            with CaptureQueriesContext(connection) as captured:
                found = len(client.get(url, secure=True).json()["results"])
            sql = _search_sql(list(captured.captured_queries))
            floor = []
            with connection.cursor() as cursor:
                for i in range(warmups + runs):
                    started = time.perf_counter()
                    cursor.execute(sql)
                    cursor.fetchall()
                    if i >= warmups:
                        floor.append((time.perf_counter() - started) * 1000)
            every += samples
            case = {
                "q": q,
                "results": found,
                "median_ms": round(statistics.median(samples), 2),
                "p95_ms": round(_p95(samples), 2),
                "queries": len(captured.captured_queries),
                "floor_median_ms": round(statistics.median(floor), 2),
                "sql": sql,
            }
            _log(
                f"q={q!r:<12} {found:2d} results  median {case['median_ms']:6.1f} ms"
                f"  p95 {case['p95_ms']:6.1f} ms  {case['queries']} queries"
                f"  search SELECT {case['floor_median_ms']:5.2f} ms"
            )
            cases.append(case)
    p95 = round(_p95(every), 2)
    return {
        "replies": n,
        "visible": visible,
        "warmups": warmups,
        "runs": runs,
        "requests": len(every),
        "median_ms": round(statistics.median(every), 2),
        "p95_ms": p95,
        "queries": max(c["queries"] for c in cases),
        "floor_median_ms": round(statistics.median(c["floor_median_ms"] for c in cases), 2),
        "target_ms": TARGET_MS,
        "met": p95 <= TARGET_MS,
        "cases": cases,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.replies", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--replies", type=int, default=DEFAULT_REPLIES)
    parser.add_argument("--warmups", type=int, default=3)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE each search")
    args = parser.parse_args(argv)
    if args.replies < 10 or args.runs < 1 or args.warmups < 0:
        parser.error("--replies must be at least 10, --runs at least 1, --warmups at least 0")
    dataset.setup_django()
    dataset.check_database()
    result = measure(args.replies, warmups=args.warmups, runs=args.runs)
    if args.explain:
        from django.db import connection

        with connection.cursor() as cursor:
            for case in result["cases"]:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + case["sql"])
                plan = "\n".join(line for (line,) in cursor.fetchall())
                sys.stderr.write(f"--- q={case['q']!r}\n{plan}\n")
    verdict = "met" if result["met"] else "MISSED"
    _log(
        f"{result['requests']} requests over {result['replies']:,} saved replies"
        f" ({result['visible']:,} visible to the agent): median {result['median_ms']} ms,"
        f" p95 {result['p95_ms']} ms (target ≤ {TARGET_MS:.0f} ms: {verdict}),"
        f" {result['queries']} queries per request"
    )
    if args.json:
        sys.stdout.write(json.dumps(result, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
