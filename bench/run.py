"""`make bench`: every workload against its floor or the peer, in one run, as one table.

    .venv/bin/python -m bench.run [--conversations N] [--quick] [--only pages,peer,...]

Workloads (``--only`` takes a comma-separated subset): ``pages`` (inbox and conversation page,
bench.pages), ``webhook`` (bench.webhook_load, when present), ``autoresolve``
(bench.autoresolve), ``reports`` (bench.reports), ``replies`` (the saved-reply search over
5,000 replies, bench.replies), ``batch`` (3 MB and 10,000-message signed webhook
batches on PostgreSQL and SQLite, bench.batch) and ``peer`` (django-helpdesk, bench.peer;
implies ``pages``, which it is compared with).

Databases: with DATABASE_URL unset, the throwaway tuned cluster of bench/pg.py is started.
With DATABASE_URL set, only its server and credentials are used. Either way each workload gets
its own database, because each one's dataset step truncates the desk's tables:
desk_pages_bench, desk_webhook_bench, desk_bench (auto-resolve), desk_rbench (reports),
desk_replies_bench (saved replies) and peer_helpdesk. Datasets are reused while complete, so
only the first run pays for loading.

Each Django workload runs in a child process with its own DATABASE_URL (Django binds one
database per process); their progress goes to stderr. The table is printed at the end and
written, with the machine, PostgreSQL settings and git commit, to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench import dataset

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "RESULTS.md"
WORKLOADS = [
    "pages", "webhook", "autoresolve", "reports", "replies", "peer", "http", "replica",
    "pgbouncer", "batch", "sla", "realtime", "routing",
]  # fmt: skip
DATABASES = {
    "pages": "desk_pages_bench",
    "webhook": "desk_webhook_bench",
    "autoresolve": "desk_bench",
    "reports": "desk_rbench",
    "replies": "desk_replies_bench",
    "http": "desk_http_bench",
    "pgbouncer": "desk_webhook_bench",
    "batch": "desk_batch_bench",
    "sla": "desk_sla_bench",
    "realtime": "desk_realtime_bench",
    "routing": "desk_routing_bench",
}
PEER_TARGET_RATIO = 10.0
PG_SETTINGS = [
    "shared_buffers",
    "effective_cache_size",
    "work_mem",
    "maintenance_work_mem",
    "random_page_cost",
    "max_parallel_workers_per_gather",
    "synchronous_commit",
    "fsync",
]
KEEP_MARKER = "<!-- bench.run keeps everything below this line -->"
COLUMNS = ["workload", "measure", "ours", "floor / peer", "ratio", "target", "met?"]


def _log(message: str) -> None:
    print(f"[bench.run] {message}", file=sys.stderr, flush=True)


# --- databases ---------------------------------------------------------------------------------


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def _connect(url: str):
    import psycopg

    parts = urlsplit(url)
    conninfo = urlunsplit(("postgresql", parts.netloc, parts.path, parts.query, ""))
    try:
        return psycopg.connect(conninfo, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        where = f"{parts.hostname}:{parts.port or 5432}{parts.path}"
        raise SystemExit(f"bench.run: PostgreSQL unreachable at {where}: {exc}".strip()) from None


def database_urls(workloads: list[str]) -> dict[str, str]:
    """One DATABASE_URL per workload, each database created when missing."""
    explicit = os.environ.get("DATABASE_URL")
    if not explicit:
        from bench import pg

        _log("DATABASE_URL unset: using the throwaway cluster of bench/pg.py")
        return {w: pg.start(db) for w, db in DATABASES.items() if w in workloads}
    if urlsplit(explicit).scheme not in {"postgres", "postgresql"}:
        raise SystemExit("bench.run: DATABASE_URL must be PostgreSQL (postgres://...)")
    urls = {}
    with _connect(_with_db(explicit, "postgres")) as conn:
        for workload, name in DATABASES.items():
            if workload not in workloads:
                continue
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if not exists.fetchone():
                _log(f"creating database {name}")
                conn.execute(f'CREATE DATABASE "{name}"')
            urls[workload] = _with_db(explicit, name)
    return urls


# --- running the workloads ---------------------------------------------------------------------


def _child(argv: list[str], *, database_url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, *argv], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, check=False
    )


def _last_json(proc: subprocess.CompletedProcess, what: str) -> dict:
    if proc.returncode != 0:
        raise RuntimeError(f"{what} exited with code {proc.returncode}")
    lines = [line for line in proc.stdout.strip().splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"{what} printed no JSON result")
    return json.loads(lines[-1])


def run_pages(url: str, *, conversations: int, warmups: int, runs: int) -> dict:
    proc = _child(
        [
            "-m",
            "bench.pages",
            f"--conversations={conversations}",
            f"--warmups={warmups}",
            f"--runs={runs}",
            "--json",
        ],
        database_url=url,
    )
    return _last_json(proc, "bench.pages")


def run_webhook(url: str, *, quick: bool) -> dict | None:
    if importlib.util.find_spec("bench.webhook_load") is None:
        return None
    from bench import webhook_load

    return webhook_load.run(url, duration=5 if quick else 20)


def run_http(url: str, *, quick: bool) -> dict:
    """bench.http_load: the Procfile's processes under 200 agents and 100 webhooks/s."""
    from bench import http_load

    if quick:
        return http_load.run(url, agents=20, duration=20)
    return http_load.run(url, agents=200, duration=90)


def run_pgbouncer(url: str, *, quick: bool) -> dict:
    """The webhook load again, gunicorn reaching PostgreSQL through PgBouncer (transaction)."""
    from bench import webhook_load

    return webhook_load.run(url, duration=5 if quick else 20, pgbouncer=True)


def run_autoresolve(url: str, *, conversations: int | None = None) -> dict:
    """bench.autoresolve has no programmatic API: run it and read its summary lines."""
    size = [f"--conversations={conversations}"] if conversations else []
    proc = _child(["-m", "bench.autoresolve", *size], database_url=url)
    if proc.returncode != 0:
        raise RuntimeError(f"bench.autoresolve exited with code {proc.returncode}")
    summary = {}
    for line in proc.stdout.splitlines():
        match = re.match(r"^(\S.*?)\s{2,}(\S.*?)(?:\s{2,}(ok|MISSED))?\s*$", line)
        if match:
            summary[match[1]] = {"value": match[2], "verdict": match[3]}
    if "job time (service)" not in summary:
        raise RuntimeError("bench.autoresolve printed no summary")
    return summary


REPORTS_WORKER = """
import json, sys
from bench import reports
result = reports.run(runs=int(sys.argv[1]), conversations=int(sys.argv[2]))
print(json.dumps({k: v for k, v in result.items() if not k.startswith("_")}, default=str))
"""


def run_reports(url: str, *, runs: int, conversations: int | None = None) -> dict:
    from bench import reports

    if hasattr(reports, "run"):
        size = str(conversations or reports.CONVERSATIONS)
        proc = _child(["-c", REPORTS_WORKER, str(runs), size], database_url=url)
        return _last_json(proc, "bench.reports.run")
    proc = _child(["-m", "bench.reports", f"--runs={runs}"], database_url=url)
    if proc.returncode != 0:
        raise RuntimeError(f"bench.reports exited with code {proc.returncode}")
    queries = re.search(r"queries per page: (\d+)", proc.stdout)
    times = re.search(r"median (\d+) ms, p95 (\d+) ms", proc.stdout)
    if not (queries and times):
        raise RuntimeError("bench.reports printed no timing")
    median, p95 = float(times[1]), float(times[2])
    return {
        "median_ms": median,
        "p95_ms": p95,
        "queries": int(queries[1]),
        "target_ms": 1000.0,
        "passed": median < 1000.0,
    }


def run_replies(url: str, *, warmups: int, runs: int) -> dict:
    proc = _child(
        ["-m", "bench.replies", f"--warmups={warmups}", f"--runs={runs}", "--json"],
        database_url=url,
    )
    return _last_json(proc, "bench.replies")


def run_peer(url: str, *, tickets: int, quick: bool) -> dict:
    from bench import peer

    # The peer's database goes on the same server as ours (bench.peer reads DATABASE_URL).
    previous = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = url
    try:
        return peer.measure_peer(tickets, warmups=1 if quick else 2, runs=5 if quick else 15)
    finally:
        if previous is None:
            os.environ.pop("DATABASE_URL", None)
        else:
            os.environ["DATABASE_URL"] = previous


# --- the table ---------------------------------------------------------------------------------


def _ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.1f} ms" if value < 100 else f"{value:,.0f} ms"


def _met(ok: bool | None) -> str:
    return "–" if ok is None else ("yes" if ok else "NO")


def page_rows(pages: dict) -> list[list[str]]:
    rows = []
    for c in pages["cases"]:
        target = f"p95 ≤ {c['target_ms']:.0f} ms"
        if c["target_queries"]:
            target += f", ≤ {c['target_queries']} queries"
        rows.append(
            [
                f"{c['page']} · {c['persona']} · {c['case']}",
                "p95 (median), queries",
                f"{_ms(c['p95_ms'])} ({_ms(c['median_ms'])}), {c['queries']} q",
                f"main SELECT {_ms(c['floor_median_ms'])}",
                f"{c['ratio']}×",
                target,
                _met(c["met"]),
            ]
        )
    return rows


def _worst(pages: dict, page: str, persona: str | None = None) -> dict:
    cases = [
        c
        for c in pages["cases"]
        if c["page"] == page
        and (persona is None or c["persona"] == persona)
        and (page != "inbox" or c["case"] in {"New", "Pending", "Resolved"})
    ]
    return max(cases, key=lambda c: c["p95_ms"])


def peer_rows(pages: dict | None, peer: dict) -> list[list[str]]:
    queue, ticket = peer["queue_page"], peer["ticket_page"]
    rows = []
    if pages is None:
        peer_cell = f"{_ms(queue['p95_ms'])}, {queue['queries']} q"
        return [["peer queue page", "p95, queries", "–", peer_cell, "–", "", "–"]]
    inbox = _worst(pages, "inbox", "Supervisor")
    ratio = queue["p95_ms"] / inbox["p95_ms"]
    rows.append(
        [
            f"inbox vs peer queue page ({peer['tickets']:,} tickets)",
            "p95, queries",
            f"{_ms(inbox['p95_ms'])}, {inbox['queries']} q (Supervisor, {inbox['case']})",
            f"{_ms(queue['p95_ms'])}, {queue['queries']} q",
            f"{ratio:.1f}× faster",
            f"≥ {PEER_TARGET_RATIO:.0f}× faster",
            _met(ratio >= PEER_TARGET_RATIO),
        ]
    )
    detail = _worst(pages, "conversation", "Supervisor")
    ratio = ticket["p95_ms"] / detail["p95_ms"]
    rows.append(
        [
            "conversation page vs peer ticket page",
            "p95, queries",
            f"{_ms(detail['p95_ms'])}, {detail['queries']} q ({detail['case']})",
            f"{_ms(ticket['p95_ms'])}, {ticket['queries']} q",
            f"{ratio:.1f}× faster",
            "",
            "–",
        ]
    )
    return rows


def webhook_rows(result: dict | None) -> list[list[str]]:
    if result is None:
        return [["webhook (signed, gunicorn on loopback)", "", "not run", "", "", "", "–"]]
    return [
        [
            f"webhook at {result.get('rate', 200)} req/s",
            "p50 / p99",
            f"{_ms(result.get('p50_ms'))} / {_ms(result.get('p99_ms'))}",
            "",
            "",
            "p50 ≤ 50 ms, p99 ≤ 250 ms",
            _met(bool(result.get("p50_met")) and bool(result.get("p99_met"))),
        ],
        [
            "webhook at saturation",
            "throughput",
            f"{result.get('throughput_rps', 0):,.0f} req/s",
            f"raw SQL {result.get('floor_rps', 0):,.0f} msg/s",
            f"{result.get('ratio', 0):.0%}",
            "≥ 40 % of floor",
            _met(result.get("ratio_met")),
        ],
        [
            "webhook correctness",
            "stored exactly once",
            f"{result.get('sent', 0):,} sent, {result.get('errors', 0)} errors",
            "",
            "",
            "0 lost, 0 duplicated",
            _met(result.get("correct")),
        ],
    ]


def autoresolve_rows(summary: dict) -> list[list[str]]:
    def get(name: str) -> dict:
        return summary.get(name, {"value": "?", "verdict": None})

    def verdict(name: str) -> bool | None:
        v = get(name)["verdict"]
        return None if v is None else v == "ok"

    job, single = get("job time (service)"), get("single UPDATE time")
    return [
        [
            f"auto-resolve ({get('rows resolved')['value']} due rows)",
            "job time",
            job["value"],
            f"single UPDATE {single['value']}",
            get("job / single UPDATE")["value"],
            "< 60 s, ≤ 3× the UPDATE",
            _met(verdict("job time (service)") and verdict("job / single UPDATE")),
        ],
        [
            "auto-resolve batches",
            "longest batch (row locks held)",
            get("longest batch")["value"],
            "",
            "",
            "< 250 ms",
            _met(verdict("longest batch")),
        ],
        [
            "auto-resolve worker",
            "peak RSS",
            get("worker peak RSS")["value"],
            "",
            "",
            "< 200 MB",
            _met(verdict("worker peak RSS")),
        ],
    ]


def reports_rows(result: dict) -> list[list[str]]:
    return [
        [
            "reports page (1M messages in range)",
            "median (p95), queries",
            f"{_ms(result['median_ms'])} ({_ms(result['p95_ms'])}), {result['queries']} q",
            "",
            "",
            f"median < {result.get('target_ms', 1000) / 1000:.0f} s",
            _met(result.get("passed")),
        ]
    ]


def replies_rows(result: dict) -> list[list[str]]:
    return [
        [
            f"saved-reply search ({result['replies']:,} replies, {result['visible']:,} visible)",
            "p95 (median), queries",
            f"{_ms(result['p95_ms'])} ({_ms(result['median_ms'])}), {result['queries']} q",
            f"search SELECT {_ms(result['floor_median_ms'])}",
            "",
            f"p95 ≤ {result['target_ms']:.0f} ms",
            _met(result.get("met")),
        ]
    ]


def http_rows(result: dict) -> list[list[str]]:
    e = result["endpoints"]
    shares = result["cpu_share_of_machine"]
    web, worker, db = (shares.get(k, 0.0) for k in ("web", "worker", "database"))
    rows = [
        [
            f"HTTP {name} ({result['agents']} agents + webhooks {result['webhook_rate']:g}/s)",
            "p50 / p95 / p99",
            f"{_ms(e[name]['p50_ms'])} / {_ms(e[name]['p95_ms'])} / {_ms(e[name]['p99_ms'])}",
            f"{e[name]['count']} requests",
            "",
            "0 errors",
            _met(e[name]["errors"] == 0),
        ]
        for name in ("login", "inbox", "conversation", "reply", "webhook")
    ]
    rows.append(
        [
            "HTTP load CPU split",
            "share of the machine",
            f"web {web:.0%}, worker {worker:.0%}, database {db:.0%}",
            f"machine busy {result['machine_busy']:.0%}",
            "",
            "0 lost, 0 duplicated",
            _met(result.get("correct")),
        ]
    )
    return rows


def run_batch(url: str, *, quick: bool) -> dict:
    """bench.batch: 3 MB and 10,000-message signed batches on PostgreSQL and on SQLite."""
    from bench import batch

    return batch.run(url, posts=2 if quick else 5, messages=2_000 if quick else 10_000)


def run_sla(url: str, *, quick: bool) -> dict:
    """bench.service_levels (issue 18): the SLA sweep at 100,000 open conversations."""
    argv = ["-m", "bench.service_levels", "--json", "--ticks", "10" if quick else "40"]
    return _last_json(_child(argv, database_url=url), "bench.service_levels")


def run_realtime(url: str, *, quick: bool) -> dict:
    """bench.realtime (issue 15): live push to 500 connected agents, idle cost, a burst."""
    argv = ["-m", "bench.realtime", "--json", "--database-url", url]
    return _last_json(_child(argv + (["--quick"] if quick else []), database_url=url), "realtime")


def realtime_rows(result: dict) -> list[list[str]]:
    lat, idle, burst, poll, met = (
        result[k] for k in ("latency", "idle", "burst", "polling", "met")
    )
    agents = f"{result['agents']} agents"
    return [
        [
            f"live push, {agents} connected",
            "webhook's 200 -> row on every socket, p50 / p95",
            f"{_ms(lat['p50_ms'])} / {_ms(lat['p95_ms'])}",
            f"{lat['samples']:,} arrivals",
            "",
            "p50 <= 200 ms, p95 <= 1 s",
            _met(met["latency"]),
        ],
        [
            f"live push idle, {agents} connected",
            "ASGI CPU, database queries",
            f"{idle['cpu_pct']} % of a core, {idle['queries']} queries",
            f"polling: {poll['at_500_agents_cpu_pct']} % CPU,"
            f" {poll['at_500_agents_queries_per_s']} queries/s",
            "",
            "< 5 % of a core, 0 queries",
            _met(met["idle"]),
        ],
        [
            f"live push burst, {agents} + {result['outsiders']} without access",
            "100 inbound in 1 s: agents with each exactly once / in order",
            f"{burst['agents_exactly_once']} / {burst['agents_in_order']}",
            f"outsiders' frames: {burst['outsider_frames']}",
            "",
            "all agents, 0 for outsiders",
            _met(met["burst"]),
        ],
    ]


def sla_rows(result: dict) -> list[list[str]]:
    steady, outage, met = result["steady"], result["outage"], result["met"]
    clocks = f"{result['clocks']:,} clocks"
    return [
        [
            f"SLA sweep every 15 s, {clocks}",
            "DB time per run median / max",
            f"{_ms(steady['db_s_median'] * 1000)} / {_ms(steady['db_s_max'] * 1000)}",
            f"{steady['ticks']} runs, {steady['alerts']:,} alerts",
            "",
            "< 1 s per run",
            _met(met["db_under_1s"]),
        ],
        [
            f"SLA alert lateness, {clocks}",
            "max (alert recorded - its moment)",
            f"{steady['max_lateness_s']:.0f} s",
            f"{steady['later_than_60s']} later than 60 s",
            "",
            "every alert within 60 s",
            _met(met["flagged_within_60s"]),
        ],
        [
            f"SLA catch-up after a 5-day outage, {clocks}",
            "one pass: wall / DB time",
            f"{outage['wall_s']:.1f} s / {outage['db_s']:.1f} s",
            f"{outage['batches']} batches, {outage['left_due']} left due",
            "",
            "one bounded pass",
            _met(met["outage_one_pass"]),
        ],
    ]


def batch_rows(result: dict) -> list[list[str]]:
    rows = []
    for name, b in result["backends"].items():
        for key in ("3mb", "large"):
            s = b[key]
            rows.append(
                [
                    f"signed batch {s['messages']:,} msgs ({s['body_mb']} MB), {name}",
                    "answer p50 / max; applied max",
                    f"{_ms(s['answer_p50_ms'])} / {_ms(s['answer_max_ms'])}; "
                    f"{s['applied_max_s']:.1f} s",
                    f"{s['posts']} posts, {s['messages_per_s']:.0f} msg/s",
                    "",
                    f"answer < {result['target_ms'] / 1000:.0f} s, stored once",
                    _met(s["met"]),
                ]
            )
        login = b["login"]
        rows.append(
            [
                f"login during the large batches, {name}",
                "p50 / max, errors",
                f"{_ms(login['p50_ms'])} / {_ms(login['max_ms'])}, {login['errors']}",
                f"{login['count']} logins",
                "",
                "no error, no 'database is locked'",
                _met(b["correct"]),
            ]
        )
    return rows


def replica_rows(result: dict) -> list[list[str]]:
    primary, replica = result["primary"], result["replica"]
    return [
        [
            "reports page on a streaming replica",
            "median (p95), queries",
            f"{_ms(replica['median_ms'])} ({_ms(replica['p95_ms'])}), {replica['queries']} q"
            f" on {replica.get('database', '?')}",
            f"primary {_ms(primary['median_ms'])}",
            f"{replica['median_ms'] / primary['median_ms']:.2f}×",
            "median < 1 s",
            _met(replica.get("passed") and replica.get("database") == "replica"),
        ]
    ]


def error_row(workload: str, error: str) -> list[str]:
    return [workload, "", f"failed: {error}", "", "", "", "NO"]


def render_text(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [COLUMNS, *rows]) for i in range(len(COLUMNS))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(COLUMNS, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def render_markdown(rows: list[list[str]], columns: list[str] = COLUMNS) -> str:
    def esc(cell: str) -> str:
        return cell.replace("|", "\\|")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


# --- the record --------------------------------------------------------------------------------


def machine() -> dict:
    mem_kb = 0
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {
        "cpus": os.cpu_count(),
        "ram_gb": round(mem_kb / 1024 / 1024, 1),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def postgres_info(url: str) -> dict:
    with _connect(url) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        settings = {
            name: conn.execute("SELECT current_setting(%s)", [name]).fetchone()[0]
            for name in PG_SETTINGS
        }
    parts = urlsplit(url)
    return {"version": version, "server": f"{parts.hostname}:{parts.port}", "settings": settings}


def git_commit() -> str:
    def git(*args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return proc.stdout.strip()

    commit = git("rev-parse", "--short=12", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return f"{commit}{' (uncommitted changes)' if dirty else ''}"


def write_results(
    *, rows, argv, started, took, info, conversations, workloads, pages, notes
) -> None:
    pg_line = ", ".join(f"{k} {v}" for k, v in info["postgres"]["settings"].items())
    m = info["machine"]
    text = [
        "# Benchmark results",
        "",
        "Written by `make bench` (`python -m bench.run`); see bench/README.md for what each row"
        " measures and how.",
        "",
        f"- **Date**: {started:%Y-%m-%d %H:%M} UTC ({took / 60:.1f} min)",
        f"- **Command**: `python -m bench.run{''.join(' ' + a for a in argv)}`",
        f"- **Machine**: {m['cpus']} CPUs, {m['ram_gb']} GB RAM, Linux {m['kernel']},"
        f" Python {m['python']}; load average at start {m['load']}",
        f"- **PostgreSQL**: {info['postgres']['version']} on {info['postgres']['server']};"
        f" {pg_line}",
        f"- **Commit**: {info['commit']}",
        f"- **Data**: {conversations:,} conversations (inbox); workloads run: "
        f"{', '.join(workloads)}",
    ]
    if pages:
        d = pages["dataset"]
        text.append(
            f"- **Pages**: {pages['runs']} timed requests after {pages['warmups']} warm-ups per"
            f" row; dataset {'reused' if d.get('reused') else 'built'}"
            f" (built in {float(d['seconds']):.0f} s)"
        )
    text += ["", render_markdown(rows), ""]
    if notes:
        text += ["## Notes", "", *[f"- {n}" for n in notes], ""]
    # Sections below the marker (runs of single workloads, written by hand) survive a rerun.
    previous = RESULTS.read_text() if RESULTS.exists() else ""
    kept = previous[previous.index(KEEP_MARKER) :] if KEEP_MARKER in previous else ""
    RESULTS.write_text("\n".join(text) + ("\n" + kept if kept else ""))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--conversations", type=int, default=dataset.DEFAULT_CONVERSATIONS,
        help="inbox dataset size, and the peer's ticket count (default 1,000,000)",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="fewer timed runs (a quick look)")
    parser.add_argument("--only", default=",".join(WORKLOADS), help=f"subset of {WORKLOADS}")
    args = parser.parse_args(argv)
    workloads = [w.strip() for w in args.only.split(",") if w.strip()]
    unknown = sorted(set(workloads) - set(WORKLOADS))
    if unknown:
        parser.error(f"unknown workload(s) {unknown}; choose from {WORKLOADS}")
    if "peer" in workloads and "pages" not in workloads:
        workloads.insert(0, "pages")
    if args.conversations < dataset.CHANNELS * dataset.ROUNDS:
        parser.error(f"--conversations must be at least {dataset.CHANNELS * dataset.ROUNDS}")
    warmups, runs = (1, 8) if args.quick else (3, 30)

    started = dt.datetime.now(dt.UTC)
    clock = time.perf_counter()
    urls = database_urls(workloads)
    info = {
        "machine": machine(),
        "postgres": postgres_info(next(iter(urls.values()))),
        "commit": git_commit(),
    }
    rows: list[list[str]] = []
    notes: list[str] = []
    pages = None
    for workload in WORKLOADS:
        if workload not in workloads:
            continue
        _log(f"--- {workload}")
        try:
            if workload == "pages":
                pages = run_pages(
                    urls["pages"], conversations=args.conversations, warmups=warmups, runs=runs
                )
                rows += page_rows(pages)
            elif workload == "webhook":
                result = run_webhook(urls["webhook"], quick=args.quick)
                rows += webhook_rows(result)
                if result is None:
                    notes.append("webhook: bench/webhook_load.py is not there yet (not run)")
            elif workload == "autoresolve":
                rows += autoresolve_rows(run_autoresolve(urls["autoresolve"]))
            elif workload == "reports":
                rows += reports_rows(run_reports(urls["reports"], runs=5 if args.quick else 10))
            elif workload == "replies":
                rows += replies_rows(run_replies(urls["replies"], warmups=warmups, runs=runs))
            elif workload == "http":
                rows += http_rows(run_http(urls["http"], quick=args.quick))
            elif workload == "replica":
                from bench import replica

                rows += replica_rows(replica.run_reports(runs=5 if args.quick else 10))
            elif workload == "batch":
                rows += batch_rows(run_batch(urls["batch"], quick=args.quick))
            elif workload == "sla":
                rows += sla_rows(run_sla(urls["sla"], quick=args.quick))
            elif workload == "realtime":
                rows += realtime_rows(run_realtime(urls["realtime"], quick=args.quick))
            elif workload == "routing":  # issue 17: bench/routing.py
                from bench import routing as routing_bench

                argv = ["-m", "bench.routing", "--json", "--runs", "50" if args.quick else "200"]
                result = _last_json(_child(argv, database_url=urls["routing"]), "bench.routing")
                rows += routing_bench.rows(result)
            elif workload == "pgbouncer":
                result = run_pgbouncer(urls["pgbouncer"], quick=args.quick)
                rows += [[f"{row[0]} via PgBouncer", *row[1:]] for row in webhook_rows(result)]
            elif workload == "peer":
                peer = run_peer(
                    urls.get("pages") or next(iter(urls.values())),
                    tickets=args.conversations,
                    quick=args.quick,
                )
                rows += peer_rows(pages, peer)
        except (RuntimeError, SystemExit, OSError, ValueError, KeyError) as exc:
            _log(f"{workload} failed: {exc}")
            rows.append(error_row(workload, str(exc)))
    took = time.perf_counter() - clock

    print()
    print(render_text(rows))
    load = info["machine"]["load"]
    if float(load.split()[0]) > (os.cpu_count() or 1):
        notes.append(
            f"The machine was busy (load average {load} on {os.cpu_count()} CPUs at the start):"
            " wall-clock figures are inflated; the query counts and plans are not."
        )
    write_results(
        rows=rows,
        argv=argv,
        started=started,
        took=took,
        info=info,
        conversations=args.conversations,
        workloads=workloads,
        pages=pages,
        notes=notes,
    )
    print(f"\nwritten to {RESULTS.relative_to(ROOT)}")
    # A missed target is a result (in the table); only a workload that could not run fails.
    return 1 if any(r[2].startswith("failed:") for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
