"""The peer benchmark: django-helpdesk's queue page and ticket page at the same data size as ours.

    .venv/bin/python -m bench.peer --tickets 1000000

Run with our virtualenv. It makes sure that

1. django-helpdesk is installed in its own virtualenv, bench/peer/venv (created with python3.11
   and `pip install` of PEER_REQUIREMENTS when missing or broken; needs the package index once);
2. its database exists: `peer_helpdesk` on the server of DATABASE_URL when that is set (or the
   URL in PEER_DATABASE_URL), otherwise in the throwaway cluster of bench/pg.py;
3. the database holds exactly N tickets (bench/peer_helpdesk/seed.py: reused when the count
   matches, appended or rebuilt otherwise);

then runs bench/peer_helpdesk/timing.py with the peer's python and returns its JSON. The lead's
bench/run.py calls `measure_peer(tickets)`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BENCH_DIR = Path(__file__).resolve().parent
PEER_DIR = BENCH_DIR / "peer"
VENV = PEER_DIR / "venv"
VENV_PYTHON = VENV / "bin" / "python"
SITE_DIR = BENCH_DIR / "peer_helpdesk"
PEER_DB = "peer_helpdesk"
PEER_REQUIREMENTS = ["Django>=5.2,<5.3", "django-helpdesk", "psycopg[binary]"]
DEFAULT_TICKETS = 1_000_000


def _log(message: str) -> None:
    # stdout carries the JSON result; progress goes to stderr.
    print(f"[bench.peer] {message}", file=sys.stderr, flush=True)


def _venv_works() -> bool:
    if not VENV_PYTHON.exists():
        return False
    probe = subprocess.run(
        [str(VENV_PYTHON), "-c", "import django, helpdesk, psycopg, rest_framework"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


def ensure_venv() -> Path:
    """Create bench/peer/venv with django-helpdesk unless a working one exists; its python."""
    if _venv_works():
        return VENV_PYTHON
    base = shutil.which("python3.11") or sys.executable
    _log(f"creating {VENV} with {base} and installing {' '.join(PEER_REQUIREMENTS)}")
    if VENV.exists():
        shutil.rmtree(VENV)
    PEER_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run([base, "-m", "venv", str(VENV)], check=True)
    subprocess.run(
        [str(VENV_PYTHON), "-m", "pip", "install", "--quiet", *PEER_REQUIREMENTS],
        check=True,
    )
    if not _venv_works():
        raise SystemExit(f"bench.peer: {VENV} does not import django-helpdesk after install")
    return VENV_PYTHON


def _create_database_if_missing(server_url: str, name: str) -> None:
    import psycopg

    # Through the maintenance database: ours may not have been created yet.
    parts = urlsplit(server_url)
    conninfo = urlunsplit(("postgresql", parts.netloc, "/postgres", "", ""))
    with psycopg.connect(conninfo, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def peer_database_url() -> str:
    """The peer's own database (created if missing), next to ours so both share one server."""
    explicit = os.environ.get("PEER_DATABASE_URL")
    if explicit:
        return explicit
    ours = os.environ.get("DATABASE_URL")
    if ours and urlsplit(ours).scheme in {"postgres", "postgresql"}:
        parts = urlsplit(ours)
        url = urlunsplit((parts.scheme, parts.netloc, f"/{PEER_DB}", "", ""))
        _create_database_if_missing(ours, PEER_DB)
        return url
    from bench import pg

    return pg.start(PEER_DB)


def _run_json(argv: list[str], *, database_url: str) -> dict:
    env = {**os.environ, "PEER_DATABASE_URL": database_url}
    # Our settings module must not leak into the peer's Django.
    env.pop("DJANGO_SETTINGS_MODULE", None)
    proc = subprocess.run(
        argv, cwd=BENCH_DIR, env=env, stdout=subprocess.PIPE, text=True, check=False
    )
    if proc.returncode != 0:
        raise SystemExit(f"bench.peer: {' '.join(argv)} failed with exit code {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def seed(tickets: int, *, python: Path, database_url: str) -> dict:
    """Load (or reuse) `tickets` tickets into the peer's database; the seed script's summary."""
    _log(f"seeding {tickets:,} tickets (reused when already loaded)")
    started = time.perf_counter()
    result = _run_json(
        [str(python), str(SITE_DIR / "seed.py"), "--tickets", str(tickets)],
        database_url=database_url,
    )
    _log(f"seed: {result} in {time.perf_counter() - started:.1f} s")
    return result


def measure_peer(tickets: int = DEFAULT_TICKETS, *, warmups: int = 2, runs: int = 15) -> dict:
    """Seed the peer with `tickets` tickets (reusing data) and time its two pages.

    Returns {"tickets": N, "queue_page": {"median_ms", "p95_ms", "queries", ...},
    "ticket_page": {...}, "seed": {...}, "versions": {...}}.
    """
    python = ensure_venv()
    database_url = peer_database_url()
    seeded = seed(tickets, python=python, database_url=database_url)
    _log("timing the queue page and the ticket page")
    result = _run_json(
        [
            str(python),
            str(SITE_DIR / "timing.py"),
            f"--warmups={warmups}",
            f"--runs={runs}",
        ],
        database_url=database_url,
    )
    if result["tickets"] != tickets:
        raise SystemExit(f"bench.peer: timed {result['tickets']} tickets, expected {tickets}")
    result["seed"] = seeded
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.peer", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--tickets", type=int, default=DEFAULT_TICKETS)
    # At 1,000,000 tickets each queue-page request takes seconds: fewer runs for a quick look.
    parser.add_argument("--warmups", type=int, default=2)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args(argv)
    if args.tickets < 1 or args.runs < 1 or args.warmups < 0:
        parser.error("--tickets and --runs must be at least 1, --warmups at least 0")
    print(json.dumps(measure_peer(args.tickets, warmups=args.warmups, runs=args.runs), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
