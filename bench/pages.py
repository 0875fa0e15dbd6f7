"""Time the inbox page and the conversation page against the database's own floor.

    DATABASE_URL=$(.venv/bin/python -m bench.pg start --db desk_pages_bench) \\
        .venv/bin/python -m bench.pages [--conversations N] [--runs R] [--warmups W] [--json]

Each page is rendered server-side through Django's test client (middleware, view, queries and
template; no network), as a Supervisor who sees all 201 channels and as an agent who sees 6.
For each case: median and p95 of the wall time, the SQL queries per page (CaptureQueriesContext,
in one extra request outside the timed ones), and the floor: the page's own main SELECT (the
50-row list query of the inbox, the message query of the thread), taken verbatim from the
captured queries and run raw through a cursor, timed the same way. ratio = page p95 / floor
median. p95 is the sample at rank round(0.95 * (n - 1)), as in bench/reports.py and the peer.

The dataset is built or reused by bench.dataset.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from bench import dataset

INBOX_TARGET_MS = 100.0
INBOX_TARGET_QUERIES = 12
DETAIL_TARGET_MS = 50.0


def _log(message: str) -> None:
    print(f"[bench.pages] {message}", file=sys.stderr, flush=True)


def _p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[round(0.95 * (len(ordered) - 1))]


def _summary(samples: list[float]) -> dict:
    return {
        "median_ms": round(statistics.median(samples), 2),
        "p95_ms": round(_p95(samples), 2),
        "min_ms": round(min(samples), 2),
        "max_ms": round(max(samples), 2),
    }


def _main_query(captured: list[dict], *, table: str, marker: str) -> str:
    """The page's main SELECT among its captured queries."""
    for query in captured:
        sql = query["sql"]
        if sql.startswith("SELECT") and f'FROM "{table}"' in sql and marker in sql:
            return sql
    raise SystemExit(f"bench.pages: no main query on {table} ({marker}) among the page's queries")


def _time_raw(sql: str, *, warmups: int, runs: int) -> list[float]:
    from django.db import connection

    samples = []
    with connection.cursor() as cursor:
        for i in range(warmups + runs):
            started = time.perf_counter()
            cursor.execute(sql)  # no params: the captured SQL has its values inlined
            cursor.fetchall()
            if i >= warmups:
                samples.append((time.perf_counter() - started) * 1000)
    return samples


def _time_page(client, url: str, *, warmups: int, runs: int) -> tuple[list[float], list[dict]]:
    """Wall times of ``runs`` requests after ``warmups``, then one request's queries."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    samples = []
    for i in range(warmups + runs):
        started = time.perf_counter()
        response = client.get(url, secure=True)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise SystemExit(f"bench.pages: GET {url} answered {response.status_code}")
        if i >= warmups:
            samples.append(elapsed)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, secure=True)
    if response.status_code != 200:
        raise SystemExit(f"bench.pages: GET {url} answered {response.status_code}")
    return samples, list(captured.captured_queries)


def _cases(n: int) -> list[dict]:
    from conversations.models import Tag

    refund = Tag.objects.get(name="refund").pk
    thread = dataset.thread_id(n)
    inbox = [
        ("New", "?status=new"),
        ("Pending", "?status=pending"),
        ("Resolved", "?status=resolved"),
        ("Pending, assigned to me", "?status=pending&assignee=me"),
        ("Resolved, tag refund", f"?status=resolved&tag={refund}"),
        (f"Resolved, search '{dataset.SEARCH_WORD}'", f"?status=resolved&q={dataset.SEARCH_WORD}"),
    ]
    cases = []
    for persona, username in (("Supervisor", dataset.SUPERVISOR), ("agent", dataset.AGENT)):
        for label, query in inbox:
            if persona == "Supervisor" and "assigned to me" in label:
                label, query = "New, unassigned", "?status=new&assignee=unassigned"
            cases.append(
                {
                    "page": "inbox",
                    "persona": persona,
                    "username": username,
                    "case": label,
                    "url": f"/inbox/{query}",
                    "table": "conversations_conversation",
                    "marker": "LIMIT 51",
                    "target_ms": INBOX_TARGET_MS,
                    "target_queries": INBOX_TARGET_QUERIES,
                }
            )
        cases.append(
            {
                "page": "conversation",
                "persona": persona,
                "username": username,
                "case": f"{dataset.THREAD_MESSAGES}-message thread",
                "url": f"/conversations/{thread}/",
                "table": "conversations_message",
                "marker": 'ORDER BY "conversations_message"."created_at" DESC',
                "target_ms": DETAIL_TARGET_MS,
                "target_queries": None,
            }
        )
    return cases


def _keep_thread_window_open(n: int) -> None:
    """The thread's customer wrote an hour ago whenever the benchmark runs (reply form shown)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE conversations_conversation SET last_customer_message_at = now()"
            " - interval '1 hour', last_activity_at = now() - interval '30 minutes'"
            " WHERE id = %s",
            [dataset.thread_id(n)],
        )


def measure(n: int, *, warmups: int = 3, runs: int = 30, only: str | None = None) -> dict:
    """Time every case (Django must be set up on the dataset's database); returns a dict with
    ``cases`` (one per page, persona and filter) and ``dataset``."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.test.utils import override_settings

    found = dataset.ensure(n)
    _keep_thread_window_open(n)
    storages = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    users = {u.username: u for u in get_user_model().objects.filter(username__startswith="pbench")}
    results = []
    with override_settings(STORAGES=storages, DEBUG=False):
        clients = {}
        for case in _cases(n):
            if only and case["page"] != only:
                continue
            client = clients.get(case["username"])
            if client is None:
                client = clients[case["username"]] = Client()
                client.force_login(users[case["username"]])
            samples, captured = _time_page(client, case["url"], warmups=warmups, runs=runs)
            main_sql = _main_query(captured, table=case["table"], marker=case["marker"])
            floor = _time_raw(main_sql, warmups=warmups, runs=runs)
            page = _summary(samples)
            floor_median = statistics.median(floor)
            row = {
                key: case[key]
                for key in ("page", "persona", "case", "url", "target_ms", "target_queries")
            }
            row.update(
                page,
                queries=len(captured),
                sql_ms=round(sum(float(q["time"]) for q in captured) * 1000, 2),
                floor_median_ms=round(floor_median, 2),
                floor_p95_ms=round(_p95(floor), 2),
                ratio=round(page["p95_ms"] / floor_median, 1) if floor_median else None,
                main_sql=main_sql,
            )
            row["met"] = row["p95_ms"] <= case["target_ms"] and (
                case["target_queries"] is None or row["queries"] <= case["target_queries"]
            )
            _log(
                f"{row['page']:<12} {row['persona']:<10} {row['case']:<32}"
                f" median {row['median_ms']:7.1f} ms  p95 {row['p95_ms']:7.1f} ms"
                f"  {row['queries']:2d} queries  floor {row['floor_median_ms']:6.2f} ms"
            )
            results.append(row)
    return {
        "dataset": {k: str(v) if k == "built_at" else v for k, v in found.items()},
        "warmups": warmups,
        "runs": runs,
        "cases": results,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.pages", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--conversations", type=int, default=dataset.DEFAULT_CONVERSATIONS)
    parser.add_argument("--warmups", type=int, default=3)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--json", action="store_true", help="print the result as one JSON line")
    parser.add_argument(
        "--only", choices=["inbox", "conversation"], help="time only this page's cases"
    )
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE each main query")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmups < 0:
        parser.error("--runs must be at least 1, --warmups at least 0")
    dataset.setup_django()
    dataset.check_database()
    result = measure(args.conversations, warmups=args.warmups, runs=args.runs, only=args.only)
    if args.explain:
        from django.db import connection

        with connection.cursor() as cursor:
            for row in result["cases"]:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + row["main_sql"])
                plan = "\n".join(line for (line,) in cursor.fetchall())
                sys.stderr.write(f"--- {row['persona']} {row['case']}\n{plan}\n")
    if args.json:
        sys.stdout.write(json.dumps(result, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
