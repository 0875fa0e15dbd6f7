"""What the fault suite runs and breaks: its own PostgreSQL cluster, its own Redis, the Procfile.

Logs live under ``var/faults/``; every server listens on its own loopback port, so the suite can
stop and restart the database and the broker without touching anybody else's (the shared Redis on
6379, the test cluster on 5432, the benchmark cluster on 5499). The PostgreSQL cluster is a
``bench.pg.TempCluster`` (as the reports' replica is): server binaries run as the ``postgres``
user when we are root, and the data directory is a fresh temporary directory owned by that user,
never the checkout (which it may not even be allowed to enter: a clone under /root), removed
when the run ends.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import pg as bench_pg

ROOT = Path(__file__).resolve().parents[2]
VAR = ROOT / "var" / "faults"
BIN = ROOT / ".venv" / "bin"


class Unavailable(RuntimeError):
    """A binary the suite needs is not installed (the CI-sized test skips with this reason)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, *, timeout: float, up: bool = True) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.3):
                if up:
                    return True
        except OSError:
            if not up:
                return True
        time.sleep(0.1)
    return False


def missing_binaries() -> list[str]:
    """Names of the server binaries the suite cannot find (empty when it can run)."""
    missing = [] if shutil.which("redis-server") else ["redis-server"]
    try:
        bench_pg._pg_bin()
    except SystemExit:
        missing.append("PostgreSQL server (initdb/pg_ctl)")
    return missing


@dataclass
class Postgres(bench_pg.TempCluster):
    """A small throwaway cluster the suite may stop and restart at will.

    ``start`` creates it in a new temporary directory owned by the server's user; ``remove``
    stops it, keeps its log as ``home/logs/postgresql.log`` and deletes the directory.
    """

    port: int
    home: Path = VAR
    db: str = "desk_faults"
    server_dir: Path | None = None
    prefix = "desk-faults-pg-"

    @property
    def url(self) -> str:
        return self.url_of(self.db)

    def start(self) -> None:
        self.create_dir()
        if not (self.data / "PG_VERSION").exists():
            self.data.mkdir(exist_ok=True)
            bench_pg._chown(self.data)
            settings = {
                "listen_addresses": "'127.0.0.1'",
                "max_connections": "60",
                "shared_buffers": "64MB",
                "fsync": "on",
                "synchronous_commit": "on",
            }
            bench_pg.init_cluster(self.data, settings, comment="bench/faults")
        self._start_server()
        if not self._psql(f"SELECT 1 FROM pg_roles WHERE rolname = '{bench_pg.ROLE}'"):
            self._psql(
                f"CREATE ROLE {bench_pg.ROLE} LOGIN SUPERUSER PASSWORD '{bench_pg.PASSWORD}'"
            )

    def fresh_database(self) -> None:
        """Drop and create the suite's database."""
        self._psql(f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)")
        self._psql(f"CREATE DATABASE {self.db} OWNER {bench_pg.ROLE}")

    def databases(self) -> set[str]:
        return set(self._psql("SELECT datname FROM pg_database").split())

    def _start_server(self) -> None:
        proc = self.start_server(timeout=60)
        if proc.returncode != 0 and "another server might be running" not in proc.stderr:
            raise RuntimeError(f"faults: PostgreSQL did not start: {proc.stdout}{proc.stderr}")

    def keep_log(self) -> None:
        logs = self.home / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            shutil.copyfile(self.log, logs / "postgresql.log")

    def restart(self, *, down_for: float = 0.0) -> None:
        """Stop (fast: open connections are cut), stay down ``down_for`` seconds, start."""
        self.stop("fast")
        time.sleep(down_for)
        self._start_server()


@dataclass
class Redis:
    """A private redis-server without persistence: a stop loses what the broker held."""

    port: int
    home: Path = VAR
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        redis = shutil.which("redis-server")
        if not redis:
            raise Unavailable("redis-server is not installed")
        self.home.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [redis, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.home)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        if not wait_port(self.port, timeout=10):
            raise RuntimeError("faults: redis-server did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


_VAR_DEFAULT = re.compile(r"\$\{(\w+):-([^}]*)\}")


def procfile(path: Path = ROOT / "Procfile") -> dict[str, str]:
    """The process lines of a Procfile (name → command), comments and blanks skipped."""
    lines = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#") and ":" in line:
            name, command = line.split(":", 1)
            lines[name.strip()] = command.strip()
    return lines


def expand(command: str, env: dict[str, str]) -> list[str]:
    """The argv of a Procfile command: ``${NAME:-default}`` from ``env``, then shell-split."""
    return shlex.split(_VAR_DEFAULT.sub(lambda m: env.get(m.group(1)) or m.group(2), command))


@dataclass
class Processes:
    """The Procfile's processes (each in its own process group) plus the WhatsApp emulator;
    ``envs`` overrides the environment of some of them by name (a restart keeps it)."""

    env: dict[str, str]
    logs: Path
    running: dict[str, subprocess.Popen] = field(default_factory=dict)
    envs: dict[str, dict[str, str]] = field(default_factory=dict)

    def start(self, name: str, argv: list[str] | None = None) -> subprocess.Popen:
        self.logs.mkdir(parents=True, exist_ok=True)
        env = self.envs.get(name, self.env)
        if argv is None:
            argv = expand(procfile()[name], env)
            argv[0] = str(BIN / argv[0]) if (BIN / argv[0]).exists() else argv[0]
        with (self.logs / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # kill -9 of the group takes the pool children too
            )
        self.running[name] = proc
        return proc

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.running.pop(name, None)
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def stop_all(self) -> None:
        for name in list(self.running):
            self.kill(name, signal.SIGTERM)

    def dead(self) -> list[str]:
        return [name for name, proc in self.running.items() if proc.poll() is not None]
