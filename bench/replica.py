"""A streaming replica of a local throwaway cluster, for the reports' read replica.

    .venv/bin/python -m bench.replica [--runs 10]    # the reports workload on a replica

``Replica`` copies a running cluster with ``pg_basebackup -R`` (the copy is a standby that
streams from the primary) into a fresh temporary directory owned by the server's user, and starts
it on its own loopback port and socket directory. It is removed when the run ends.

``run_reports`` does what ``make bench --only replica`` measures: the bench cluster of
bench/pg.py with the reports dataset (bench/reports.py, ``desk_rbench``), a replica of it, and
the reports page rendered with ``DATABASE_REPLICA_URL`` set, so every report query goes to the
replica (config/db_routing.py); the result says which database served them and how far the
replica lagged.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import pg as bench_pg

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Replica(bench_pg.TempCluster):
    """A hot standby of the cluster listening on ``primary_socket``/``primary_port``."""

    primary_socket: Path
    primary_port: int
    port: int
    server_dir: Path | None = None
    prefix = "desk-replica-pg-"

    def url(self, db: str) -> str:
        return self.url_of(db)

    def start(self) -> None:
        """Copy the primary (checkpoint first, WAL streamed alongside) and start the standby."""
        self.create_dir()
        copy = self._pg(
            "pg_basebackup", "-h", str(self.primary_socket), "-p", str(self.primary_port),
            "-U", bench_pg.OS_USER, "-D", str(self.data), "-R", "-X", "stream",
            "--checkpoint=fast", check=False,
        )  # fmt: skip
        if copy.returncode:
            raise RuntimeError(f"replica: pg_basebackup failed: {copy.stderr.strip()}")
        # The copied postgresql.conf names the primary's port and socket: ours override them.
        proc = self.start_server(timeout=120, options="-c hot_standby=on")
        if proc.returncode:
            raise RuntimeError(f"replica: did not start: {proc.stderr}{self.log.read_text()}")


def wait_caught_up(primary_url: str, replica_url: str, *, timeout: float = 120) -> float:
    """Until the replica has replayed everything the primary had written; seconds waited."""
    import psycopg

    began = time.monotonic()
    with psycopg.connect(_dsn(primary_url), autocommit=True) as primary:
        target = primary.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
    with psycopg.connect(_dsn(replica_url), autocommit=True) as replica:
        while time.monotonic() - began < timeout:
            done = replica.execute(
                "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target]
            ).fetchone()[0]
            if done:
                return time.monotonic() - began
            time.sleep(0.1)
    raise RuntimeError(f"replica: not caught up after {timeout:.0f} s")


def _dsn(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


REPORTS_ON_REPLICA = """
import json, sys
from bench import reports
result = reports.run(runs=int(sys.argv[1]))
print(json.dumps({k: v for k, v in result.items() if not k.startswith("_")}, default=str))
"""


def run_reports(*, runs: int = 10) -> dict:
    """The reports workload on the bench cluster (dataset built on the primary), then again
    with a replica of it configured; both results."""
    primary_url = bench_pg.start("desk_rbench")
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}

    def child(extra: dict) -> dict:
        proc = subprocess.run(
            [sys.executable, "-c", REPORTS_ON_REPLICA, str(runs)],
            cwd=ROOT, env={**env, "DATABASE_URL": primary_url, **extra},
            stdout=subprocess.PIPE, text=True, check=False,
        )  # fmt: skip
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        if proc.returncode or not lines:
            raise RuntimeError(f"bench.reports exited with code {proc.returncode}")
        return json.loads(lines[-1])

    primary = child({})  # builds the dataset when missing, so the copy below holds it
    replica = Replica(bench_pg.socket_dir(), bench_pg.PORT, free_port())
    began = time.monotonic()
    try:
        replica.start()
        copied_s = time.monotonic() - began
        caught_up_s = wait_caught_up(primary_url, replica.url("desk_rbench"))
        on_replica = child({"DATABASE_REPLICA_URL": replica.url("desk_rbench")})
    finally:
        replica.remove()
    return {
        "name": "replica",
        "primary": primary,
        "replica": on_replica,
        "basebackup_s": round(copied_s, 1),
        "caught_up_s": round(caught_up_s, 1),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.replica", description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args(argv)
    print(json.dumps(run_reports(runs=args.runs), indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
