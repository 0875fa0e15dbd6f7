"""`make bench-scale`: the growth table: the same workloads at 100k, 1M and 10M conversations.

    .venv/bin/python -m bench.scale [--sizes 100k,1m,10m] [--only pages,webhook,autoresolve,reports]
        [--quick] [--table]

Outside CI (the 10M dataset takes 17 minutes to build and ~35 GB). For each size N:

* **pages**: bench.dataset with N conversations over 200 channels (~5 N messages, partitioned
  by month), in its own database (``desk_pages_bench`` for 1M, as `make bench`; a suffix for the
  other sizes: ``desk_pages_bench_100k``, ``desk_pages_bench_10m``). The inbox (12 cases) and
  the conversation page, each beside its floor: the page's own main SELECT.
* **webhook**: bench.webhook_load in grown mode, inside the same database: its 4 channels and
  2,200 contacts beside the N conversations and ~5 N messages already there (an earlier run's
  rows are removed, nothing else). Open loop at 200 req/s, saturation, the raw-SQL floor.
* **autoresolve**: bench.autoresolve with N conversations over 200 channels, about half due
  (``desk_bench`` / ``desk_bench_100k`` / ``desk_bench_10m``), beside a single hand-written UPDATE.
* **reports**: bench.reports with N / 5 conversations of one channel in the 30-day range, five
  messages each (N messages in range: 10,000,000 at 10M), ``desk_rbench[_suffix]``.
* **peer**: django-helpdesk (bench.peer) with N tickets in its own database (``peer_helpdesk``
  for 1M, as `make bench`; ``peer_helpdesk_100k``, ``peer_helpdesk_10m``): its queue page and
  ticket page beside our inbox (the Supervisor's slowest queue) and conversation page.

Each size's results are kept in bench/scale.json (so sizes can be measured in separate runs: the
10M one when the machine is idle) and the growth table is rendered from all of them into
bench/RESULTS.md, between the markers below (bench.run keeps that part of the file). ``--table``
only re-renders it. The cluster is bench/pg.py's (DATABASE_URL unset) or DATABASE_URL's server.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path

from bench import run as bench_run

BENCH_DIR = Path(__file__).resolve().parent
STORE = BENCH_DIR / "scale.json"
BEGIN, END = "<!-- bench.scale: growth table -->", "<!-- /bench.scale -->"
WORKLOADS = ["pages", "webhook", "autoresolve", "reports", "peer"]
LABELS = {100_000: "100k", 1_000_000: "1M", 10_000_000: "10M"}
BASES = {
    "pages": "desk_pages_bench",
    "autoresolve": "desk_bench",
    "reports": "desk_rbench",
    "peer": "peer_helpdesk",
}
# The targets at 10M (issue 20).
INBOX_MS, INBOX_Q, PAGE_MS = 100.0, 12, 50.0
WEBHOOK_P99_MS, WEBHOOK_SHARE = 250.0, 0.40
AUTORESOLVE_S, AUTORESOLVE_BATCH_MS = 600.0, 250.0
REPORTS_MS = 1000.0


def _log(message: str) -> None:
    print(f"[bench.scale] {message}", file=sys.stderr, flush=True)


def parse_size(text: str) -> int:
    text = text.strip().lower()
    for suffix, factor in (("k", 1_000), ("m", 1_000_000)):
        if text.endswith(suffix):
            return int(float(text[:-1]) * factor)
    return int(text)


def label(size: int) -> str:
    return LABELS.get(size) or f"{size:,}"


def database(workload: str, size: int) -> str:
    base = BASES["pages" if workload == "webhook" else workload]
    return base if size == 1_000_000 else f"{base}_{LABELS.get(size, str(size)).lower()}"


def _urls(size: int, workloads: list[str]) -> dict[str, str]:
    names = {w: database(w, size) for w in workloads}
    saved = dict(bench_run.DATABASES)
    bench_run.DATABASES.clear()
    bench_run.DATABASES.update(names)
    try:
        return bench_run.database_urls(workloads)
    finally:
        bench_run.DATABASES.clear()
        bench_run.DATABASES.update(saved)


def _load() -> float:
    return os.getloadavg()[0]


def measure(size: int, workloads: list[str], *, quick: bool) -> dict:
    urls = _urls(size, workloads)
    commit = bench_run.git_commit()
    out: dict = {"commit": commit, "at": dt.datetime.now(dt.UTC).isoformat()}
    warmups, runs = (1, 8) if quick else (3, 30)
    for workload in workloads:
        load = _load()
        _log(f"--- {workload} at {label(size)} (load {load:.1f})")
        at = dt.datetime.now(dt.UTC).isoformat()
        started = time.perf_counter()
        if workload == "pages":
            result = bench_run.run_pages(
                urls["pages"], conversations=size, warmups=warmups, runs=runs
            )
        elif workload == "webhook":
            from bench import webhook_load

            result = webhook_load.run(
                urls["webhook"], duration=10 if quick else 20, keep_history=True
            )
            result.pop("server_log_tail", None)
        elif workload == "autoresolve":
            result = bench_run.run_autoresolve(urls["autoresolve"], conversations=size)
        elif workload == "peer":
            result = _run_peer(urls["peer"], size, quick=quick)
        else:
            result = bench_run.run_reports(
                urls["reports"], runs=5 if quick else 10, conversations=max(1, size // 5)
            )
        result["load_before"] = round(load, 2)
        result["wall_s"] = round(time.perf_counter() - started, 1)
        # A column's workloads may come from different runs (sizes and workloads can be run
        # apart): each keeps its own commit and time.
        result["commit"], result["at"] = commit, at
        out[workload] = result
    return out


def _run_peer(url: str, tickets: int, *, quick: bool) -> dict:
    """django-helpdesk with as many tickets as we have conversations, in its own database per
    size (peer_helpdesk at 1M, as `make bench`). Its queue page takes ~10 s at 1M, so 10M gets
    the quick run's count of timed requests."""
    from bench import peer

    previous = os.environ.get("PEER_DATABASE_URL")
    os.environ["PEER_DATABASE_URL"] = url
    try:
        few = quick or tickets >= 10_000_000
        return peer.measure_peer(tickets, warmups=1, runs=5 if few else 15)
    finally:
        if previous is None:
            os.environ.pop("PEER_DATABASE_URL", None)
        else:
            os.environ["PEER_DATABASE_URL"] = previous


# --- the table ----------------------------------------------------------------------------------


def _ms(value) -> str:
    return bench_run._ms(None if value is None else float(value))


def _case(result: dict | None, page: str, persona: str, case: str) -> dict | None:
    for c in (result or {}).get("cases", []):
        if (c["page"], c["persona"], c["case"]) == (page, persona, case):
            return c
    return None


def _value(summary: dict | None, name: str) -> str:
    return ((summary or {}).get(name) or {}).get("value", "–")


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", "").split()[0].rstrip("x"))
    except (ValueError, IndexError, AttributeError):
        return None


def growth_rows(store: dict) -> tuple[list[str], list[list[str]]]:
    sizes = sorted(int(s) for s in store)
    big = str(sizes[-1]) if sizes else None
    header = [
        "workload",
        "measure",
        *(label(s) for s in sizes),
        "floor at the largest",
        "target (10M)",
        "met?",
    ]

    def at(size: int, workload: str) -> dict | None:
        return store[str(size)].get(workload)

    rows: list[list[str]] = []
    first_pages = next((at(s, "pages") for s in sizes if at(s, "pages")), None)
    if first_pages:
        rows.append(
            [
                "pages dataset",
                "conversations; build time",
                *(
                    f"{s:,}; {float(at(s, 'pages')['dataset']['seconds']) / 60:.1f} min"
                    if at(s, "pages")
                    else "–"
                    for s in sizes
                ),
                "",
                "build ≤ 45 min",
                _met_build(store, big),
            ]
        )
        for c in first_pages["cases"]:
            key = (c["page"], c["persona"], c["case"])
            cells = []
            for s in sizes:
                found = _case(at(s, "pages"), *key)
                cells.append(f"{_ms(found['p95_ms'])}, {found['queries']} q" if found else "–")
            last = _case(store[big].get("pages"), *key)
            inbox = c["page"] == "inbox"
            target = (
                f"p95 ≤ {INBOX_MS:.0f} ms, ≤ {INBOX_Q} q" if inbox else f"p95 ≤ {PAGE_MS:.0f} ms"
            )
            met = None
            if last:
                met = last["p95_ms"] <= (INBOX_MS if inbox else PAGE_MS) and (
                    not inbox or last["queries"] <= INBOX_Q
                )
            rows.append(
                [
                    f"{c['page']} · {c['persona']} · {c['case']}",
                    "p95, queries",
                    *cells,
                    f"main SELECT {_ms(last['floor_median_ms'])}" if last else "–",
                    target,
                    bench_run._met(met),
                ]
            )
    rows += _peer_rows(sizes, at)
    if any(at(s, "webhook") for s in sizes):
        w = {s: at(s, "webhook") or {} for s in sizes}
        last = w[sizes[-1]]
        p99_ok = last.get("p99_ms", 1e9) <= WEBHOOK_P99_MS if last else None
        share_ok = last.get("ratio", 0) >= WEBHOOK_SHARE if last else None
        rows.append(
            [
                "webhook at 200 req/s",
                "p50 / p99",
                *(
                    f"{_ms(w[s].get('p50_ms'))} / {_ms(w[s].get('p99_ms'))}" if w[s] else "–"
                    for s in sizes
                ),
                "",
                f"p99 ≤ {WEBHOOK_P99_MS:.0f} ms",
                bench_run._met(p99_ok),
            ]
        )
        rows.append(
            [
                "webhook at saturation",
                "req/s (share of the raw-SQL floor)",
                *(
                    f"{w[s].get('throughput_rps', 0):,.0f} ({w[s].get('ratio', 0):.0%})"
                    if w[s]
                    else "–"
                    for s in sizes
                ),
                f"raw SQL {last.get('floor_rps', 0):,.0f} msg/s" if last else "–",
                f"≥ {WEBHOOK_SHARE:.0%} of floor",
                bench_run._met(share_ok),
            ]
        )
        rows.append(
            [
                "webhook correctness",
                "sent, errors, each stored once",
                *(
                    f"{w[s].get('sent', 0):,}, {w[s].get('errors', 0)}, "
                    f"{'yes' if w[s].get('exactly_once') else 'NO'}"
                    if w[s]
                    else "–"
                    for s in sizes
                ),
                "",
                "0 errors, 0 lost, 0 duplicated",
                bench_run._met(bool(last.get("correct")) if last else None),
            ]
        )
    if any(at(s, "autoresolve") for s in sizes):
        a = {s: at(s, "autoresolve") for s in sizes}
        last = a[sizes[-1]]
        job = _number(_value(last, "job time (service)"))
        batch = _number(_value(last, "longest batch"))
        batch_ok = batch <= AUTORESOLVE_BATCH_MS if batch is not None else None
        rows.append(
            [
                "auto-resolve",
                "due rows: job time (single UPDATE)",
                *(
                    f"{_value(a[s], 'rows resolved')}: {_value(a[s], 'job time (service)')}"
                    f" ({_value(a[s], 'single UPDATE time')})"
                    if a[s]
                    else "–"
                    for s in sizes
                ),
                f"single UPDATE {_value(last, 'single UPDATE time')}",
                f"< {AUTORESOLVE_S / 60:.0f} min",
                bench_run._met(job < AUTORESOLVE_S if job is not None else None),
            ]
        )
        rows.append(
            [
                "auto-resolve batches",
                "longest batch (locks held); worker RSS",
                *(
                    f"{_value(a[s], 'longest batch')}; {_value(a[s], 'worker peak RSS')}"
                    if a[s]
                    else "–"
                    for s in sizes
                ),
                "",
                f"≤ {AUTORESOLVE_BATCH_MS:.0f} ms",
                bench_run._met(batch_ok),
            ]
        )
    if any(at(s, "reports") for s in sizes):
        r = {s: at(s, "reports") for s in sizes}
        last = r[sizes[-1]]
        rows.append(
            [
                "reports page",
                "messages in range: median (p95), queries",
                *(
                    f"{r[s]['rows']:,}: {_ms(r[s]['median_ms'])} ({_ms(r[s]['p95_ms'])}),"
                    f" {r[s]['queries']} q"
                    if r[s]
                    else "–"
                    for s in sizes
                ),
                "",
                f"median < {REPORTS_MS / 1000:.0f} s",
                bench_run._met(last["median_ms"] < REPORTS_MS if last else None),
            ]
        )
    return header, rows


def _peer_rows(sizes: list[int], at) -> list[list[str]]:
    """Our page beside django-helpdesk's at each size where both ran: the inbox's slowest queue
    (Supervisor) against the queue page, the conversation page against the ticket page."""
    if not any(at(s, "peer") for s in sizes):
        return []
    rows = []
    for ours_page, persona, theirs, name in (
        ("inbox", "Supervisor", "queue_page", "inbox vs django-helpdesk's queue page"),
        ("conversation", "Supervisor", "ticket_page", "conversation page vs its ticket page"),
    ):
        cells, ratios = [], []
        for s in sizes:
            pages, peer = at(s, "pages"), at(s, "peer")
            if not (pages and peer):
                cells.append("–")
                continue
            ours = bench_run._worst(pages, ours_page, persona)["p95_ms"]
            their = peer[theirs]["p95_ms"]
            ratio = their / ours
            ratios.append(ratio)
            cells.append(f"{_ms(ours)} vs {_ms(their)}: {ratio:,.{0 if ratio >= 10 else 1}f}×")
        inbox = ours_page == "inbox"
        last_ok = bool(at(sizes[-1], "peer")) and bool(at(sizes[-1], "pages"))
        met = (ratios[-1] >= bench_run.PEER_TARGET_RATIO) if (inbox and last_ok) else None
        rows.append(
            [
                name,
                "p95: ours vs the peer's, same count of tickets",
                *cells,
                "",
                f"≥ {bench_run.PEER_TARGET_RATIO:.0f}× faster" if inbox else "",
                bench_run._met(met),
            ]
        )
    return rows


def _met_build(store: dict, big: str | None) -> str:
    pages = (store.get(big) or {}).get("pages") if big else None
    if not pages:
        return "–"
    return bench_run._met(float(pages["dataset"]["seconds"]) <= 45 * 60)


def render(store: dict) -> str:
    header, rows = growth_rows(store)
    lines = [
        BEGIN,
        "## Growth: 100k → 1M → 10M conversations (`make bench-scale`)",
        "",
        "Each column is one size's runs of `python -m bench.scale` (bench/scale.json keeps them;"
        " a page cell is p95 and queries per page). The floor is the page's own main SELECT at"
        " the largest size, or the hand-written SQL of the same work. Below, each workload's"
        " time, commit and 1-minute load average as it started (read as it ended before"
        " 2026-12-06 10:30 UTC).",
        "",
    ]
    for size in sorted(int(s) for s in store):
        entry = store[str(size)]
        runs = [
            f"{name} {str(result.get('at', entry['at']))[:16].replace('T', ' ')} UTC at"
            f" `{result.get('commit', entry['commit'])}` (load {result.get('load_before')})"
            for name, result in entry.items()
            if isinstance(result, dict)
        ]
        lines.append(f"- {label(size)}: " + "; ".join(runs))
    lines += ["", bench_run.render_markdown(rows, header), END]
    return "\n".join(lines)


def write_results(store: dict) -> None:
    text = bench_run.RESULTS.read_text() if bench_run.RESULTS.exists() else ""
    block = render(store)
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + block + text[text.index(END) + len(END) :]
    else:
        if bench_run.KEEP_MARKER not in text:
            text += "\n" + bench_run.KEEP_MARKER + "\n"
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    bench_run.RESULTS.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scale", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--sizes", default="100k,1m,10m", help="comma-separated sizes")
    parser.add_argument("--only", default=",".join(WORKLOADS), help=f"subset of {WORKLOADS}")
    parser.add_argument("--quick", action="store_true", help="fewer timed runs")
    parser.add_argument("--table", action="store_true", help="only re-render the table")
    parser.add_argument("--store", type=Path, default=STORE, help="the results file")
    parser.add_argument("--no-write", action="store_true", help="leave bench/RESULTS.md alone")
    args = parser.parse_args(argv)
    store = json.loads(args.store.read_text()) if args.store.exists() else {}
    if not args.table:
        workloads = [w.strip() for w in args.only.split(",") if w.strip()]
        unknown = sorted(set(workloads) - set(WORKLOADS))
        if unknown:
            parser.error(f"unknown workload(s) {unknown}; choose from {WORKLOADS}")
        try:
            sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
        except ValueError:
            parser.error(f"--sizes: not a size list: {args.sizes!r} (e.g. 100k,1m,10m)")
        for size in sizes:
            result = measure(size, workloads, quick=args.quick)
            entry = store.setdefault(str(size), {})
            entry.update(result)
            args.store.write_text(json.dumps(store, indent=1, default=str) + "\n")
    if args.no_write:
        print(render(store))
        return 0
    write_results(store)
    _log(f"growth table written to {bench_run.RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
