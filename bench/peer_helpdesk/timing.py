"""Time django-helpdesk's staff queue page and ticket page (run with the peer's virtualenv).

    PEER_DATABASE_URL=... bench/peer/venv/bin/python bench/peer_helpdesk/timing.py

In-process with Django's test client, as a non-superuser staff user (`force_login`):

- queue page: the DataTables JSON endpoint that fills helpdesk's ticket list with rows,
  `/helpdesk/datatables_ticket_list/<base64 query>?start=0&length=25`, with the query the list
  page itself builds when opened without filters (open and reopened tickets, sorted by
  `created`); the list page `/helpdesk/tickets/` is only an HTML shell around it;
- ticket page: `/helpdesk/tickets/<id>/` of an assigned open ticket from the middle of the table.

Each: 2 warm-up requests, then 15 timed ones (wall time around `client.get`, which includes the
whole request/response cycle but no network), SQL queries counted per request with
CaptureQueriesContext. p95 is the sample at rank round(0.95 * (n - 1)), as in bench/reports.py.
Prints one JSON object on stdout.
"""

import argparse
import json
import os
import statistics
import sys
import time
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "peer_helpdesk.settings")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from helpdesk.models import Ticket  # noqa: E402
from helpdesk.query import query_to_base64  # noqa: E402

WARMUPS = 2
RUNS = 15
TIMED_USER = "agent01"
# What helpdesk's ticket_list view encodes when the list is opened without filters
# (views/staff.py: default_query_params).
DEFAULT_LIST_QUERY = {
    "filtering": {"status__in": [Ticket.OPEN_STATUS, Ticket.REOPENED_STATUS]},
    "sorting": "created",
    "search_string": "",
    "sortreverse": False,
}


def _measure(client: Client, url: str, *, warmups: int, runs: int) -> dict:
    for _ in range(warmups):
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"GET {url} answered {response.status_code}")
    times = []
    queries = []
    sql_times = []
    for _ in range(runs):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url)
            elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise SystemExit(f"GET {url} answered {response.status_code}")
        times.append(elapsed * 1000)
        queries.append(len(captured.captured_queries))
        sql_times.append(sum(float(q["time"]) for q in captured.captured_queries) * 1000)
    times.sort()
    return {
        "url": url,
        "median_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[round(0.95 * (len(times) - 1))], 1),
        "min_ms": round(times[0], 1),
        # Time inside the database driver, as Django's debug cursor records it.
        "sql_median_ms": round(statistics.median(sql_times), 1),
        "queries": max(queries),
        "queries_min": min(queries),
        "bytes": len(response.content),
    }


def run(*, warmups: int = WARMUPS, runs: int = RUNS) -> dict:
    """Time both pages; the data must have been loaded by seed.py."""
    user = get_user_model().objects.get(username=TIMED_USER)
    if user.is_superuser or not user.is_staff:
        raise SystemExit(f"{TIMED_USER} must be staff and not a superuser")
    tickets = Ticket.objects.count()
    if not tickets:
        raise SystemExit("no tickets: run seed.py first")
    client = Client()
    client.force_login(user)

    list_url = (
        f"/helpdesk/datatables_ticket_list/{query_to_base64(DEFAULT_LIST_QUERY)}?start=0&length=25"
    )
    ticket = (
        Ticket.objects.filter(
            id__gte=tickets // 2, status=Ticket.OPEN_STATUS, assigned_to__isnull=False
        )
        .order_by("id")
        .first()
    )
    ticket_url = f"/helpdesk/tickets/{ticket.id}/"
    queue_page = _measure(client, list_url, warmups=warmups, runs=runs)
    rows = json.loads(client.get(list_url).content)
    queue_page["rows"] = len(rows["data"])
    queue_page["records_filtered"] = rows["recordsFiltered"]
    return {
        "tickets": tickets,
        "queue_page": queue_page,
        "ticket_page": _measure(client, ticket_url, warmups=warmups, runs=runs),
        "warmups": warmups,
        "runs": runs,
        "versions": {name: version(name) for name in ("Django", "django-helpdesk", "psycopg")}
        | {"postgresql": connection.cursor().connection.info.server_version},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description="Time django-helpdesk's pages")
    parser.add_argument("--warmups", type=int, default=WARMUPS)
    parser.add_argument("--runs", type=int, default=RUNS)
    args = parser.parse_args()
    print(json.dumps(run(warmups=args.warmups, runs=args.runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
