"""A throwaway PostgreSQL cluster for the benchmarks, under bench/data/pg.

    .venv/bin/python -m bench.pg start [--db NAME]   # initdb once, start, print DATABASE_URL
    .venv/bin/python -m bench.pg url [--db NAME]     # print the DATABASE_URL (no side effects)
    .venv/bin/python -m bench.pg stop
    .venv/bin/python -m bench.pg status

`make bench` uses it when DATABASE_URL is unset. Every step is idempotent: `start` reuses an
initialised cluster (and so the datasets already loaded into it), starts it only when it is not
running, and creates the role and database only when they are missing.

PostgreSQL refuses to run as root, so when we are root the server binaries run as the `postgres`
OS user (`runuser -u postgres --`), and the data directory is owned by it. That user may not be
able to enter the checkout (a clone under /root): then the cluster lives in
/var/tmp/desk-bench-<hash of the checkout>/ instead of bench/data (`BENCH_PG_DATA` overrides both;
`python -m bench.pg status` prints where it is).

Settings are sized for a benchmark on a 2-core / 24 GB machine (see SETTINGS). Durability is left
as in production (`fsync` and `synchronous_commit` on, `full_page_writes` on): the write
benchmarks would otherwise measure a database nobody runs.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent

PORT = int(os.environ.get("BENCH_PG_PORT", "5499"))
HOST = "127.0.0.1"
ROLE = "bench"
PASSWORD = "bench"  # noqa: S105 - a loopback-only throwaway cluster
DEFAULT_DB = "desk_bench"  # bench/autoresolve.py insists the name contains "bench"
OS_USER = "postgres"


def server_user_can_enter(path: Path) -> bool:
    """Whether the server's OS user may enter ``path`` (always, when the server runs as us)."""
    if os.geteuid() != 0:
        return True
    probe = ["runuser", "-u", OS_USER, "--", "test", "-x", str(path)]
    return subprocess.run(probe, cwd="/", capture_output=True, check=False).returncode == 0


def server_owned_tempdir(prefix: str) -> Path:
    """A fresh private directory under the system's temp dir, owned by the server's user."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    _chown(path)
    return path


@functools.cache
def data_dir() -> Path:
    """Where the cluster lives: bench/data when the server's user can enter the checkout,
    otherwise a directory of its own under /var/tmp (disk-backed and kept across reboots,
    unlike /tmp, because the datasets loaded into it take long to rebuild)."""
    override = os.environ.get("BENCH_PG_DATA")
    if override:
        return Path(override)
    if server_user_can_enter(BENCH_DIR):
        return BENCH_DIR / "data"
    digest = hashlib.sha256(str(BENCH_DIR).encode()).hexdigest()[:10]
    # A fixed name so the next run finds its datasets; _initdb refuses one somebody else owns.
    return Path("/var/tmp") / f"desk-bench-{digest}"  # noqa: S108


def pgdata() -> Path:
    return data_dir() / "pg"


def logfile() -> Path:
    return data_dir() / "pg.log"


def socket_dir() -> Path:
    # Our own socket directory: the system cluster's /var/run/postgresql stays out of it, and a
    # stale socket from a killed run cannot collide with another cluster.
    return data_dir() / "pg-socket"


def _pg_bin() -> Path:
    """The bin directory of the highest installed PostgreSQL version."""
    override = os.environ.get("BENCH_PG_BIN")
    if override:
        return Path(override)
    root = Path("/usr/lib/postgresql")
    versions = sorted(
        (int(p.name), p / "bin")
        for p in root.glob("*")
        if p.name.isdigit() and (p / "bin" / "initdb").exists()
    )
    if versions:
        return versions[-1][1]
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise SystemExit("bench.pg: no PostgreSQL server binaries found (initdb)")


def _quarter_of_ram_mb() -> int:
    """A quarter of this machine's RAM in MB, between 1 GB and 8 GB."""
    ram_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    return max(1024, min(8192, ram_mb // 4))


def _wal_compression() -> str:
    """lz4 where the server has it (PostgreSQL 15 and later), else pglz ("on")."""
    try:
        version = int(_pg_bin().parent.name)
    except (ValueError, SystemExit):
        version = 0
    return "lz4" if version >= 15 else "on"


SETTINGS = {
    "listen_addresses": f"'{HOST}'",
    "port": str(PORT),
    "max_connections": "100",
    # A quarter of RAM, PostgreSQL's documented starting point (6 GB on 24 GB), leaving the OS
    # page cache (effective_cache_size) the rest. At 1 GB the 10M datasets' 12 GB of
    # conversations and indexes did not stay in shared buffers: the backends wrote 3.5 evicted
    # dirty buffers per row the auto-resolve job changed, and it ran at 0.78x today's speed.
    "shared_buffers": f"{_quarter_of_ram_mb()}MB",
    "effective_cache_size": "12GB",
    "work_mem": "64MB",
    "maintenance_work_mem": "512MB",
    # Bulk loads would otherwise checkpoint every few seconds.
    "max_wal_size": "4GB",
    "min_wal_size": "512MB",
    "checkpoint_timeout": "15min",
    "checkpoint_completion_target": "0.9",
    # The full-page images written after every checkpoint, compressed with lz4 (PostgreSQL 15)
    # instead of pglz: at 10M the first auto-resolve batch after a checkpoint wrote 5.6 images
    # per row, and pglz made it 6x slower (935 against 152 ms for 2,000 rows; lz4 229 ms).
    "wal_compression": _wal_compression(),
    # Local SSD-backed disk: index scans are not four times dearer than sequential reads.
    "random_page_cost": "1.1",
    "effective_io_concurrency": "200",
    "max_worker_processes": "4",
    "max_parallel_workers": "2",
    "max_parallel_workers_per_gather": "2",
    "max_parallel_maintenance_workers": "2",
    # Honest numbers: durability exactly as in production.
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "logging_collector": "off",
    "log_min_duration_statement": "-1",
}


# Passed on the command line at every start too, where they override the cluster's
# postgresql.conf: a cluster initialised by an older bench/pg.py runs today's tuning.
TUNING = ("shared_buffers", "effective_cache_size", "work_mem", "maintenance_work_mem",
          "max_wal_size", "min_wal_size", "checkpoint_timeout", "wal_compression")  # fmt: skip


def _tuning_options() -> str:
    return " ".join(f"-c {name}={SETTINGS[name]}" for name in TUNING)


def _as_pg(argv: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", OS_USER, "--", *argv]
    return argv


def _run(argv: list[str], *, check: bool = True) -> subprocess.CompletedProcess:
    # cwd "/": the server's user may not be allowed into ours (a checkout under /root).
    return subprocess.run(_as_pg(argv), check=check, capture_output=True, text=True, cwd="/")


def _server_uid() -> int:
    return pwd.getpwnam(OS_USER).pw_uid if os.geteuid() == 0 else os.geteuid()


def _chown(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, OS_USER, OS_USER)


def database_url(db: str = DEFAULT_DB) -> str:
    """The DATABASE_URL of `db` in the throwaway cluster (whether it runs or not)."""
    return f"postgres://{ROLE}:{PASSWORD}@{HOST}:{PORT}/{db}"


def initialised() -> bool:
    return (pgdata() / "PG_VERSION").exists()


def running() -> bool:
    if not initialised():
        return False
    return (
        _run([str(_pg_bin() / "pg_ctl"), "status", "-D", str(pgdata())], check=False).returncode
        == 0
    )


def init_cluster(data: Path, settings: dict[str, str], *, comment: str) -> None:
    """initdb a new cluster into ``data`` (which the server's user owns) and append ``settings``
    to its postgresql.conf under ``# comment``."""
    data.chmod(0o700)
    _run(
        [
            str(_pg_bin() / "initdb"),
            "-D",
            str(data),
            "-U",
            OS_USER,
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--auth-local=trust",  # the socket lives in a directory only we write to
            "--auth-host=scram-sha-256",
        ]
    )
    lines = [f"{key} = {value}" for key, value in settings.items()]
    with (data / "postgresql.conf").open("a") as handle:
        handle.write(f"\n# {comment}\n" + "\n".join(lines) + "\n")


def _initdb() -> None:
    data_dir().mkdir(mode=0o700, parents=True, exist_ok=True)
    owner = data_dir().stat().st_uid
    if owner not in (os.geteuid(), _server_uid()):
        raise SystemExit(f"bench.pg: {data_dir()} belongs to another user (uid {owner})")
    _chown(data_dir())
    for path in (pgdata(), socket_dir()):
        path.mkdir(exist_ok=True)
        _chown(path)
    settings = {**SETTINGS, "unix_socket_directories": f"'{socket_dir()}'"}
    init_cluster(pgdata(), settings, comment="bench/pg.py")


def psql(sql: str, *, sockets: Path, port: int, db: str = "postgres") -> str:
    """Run one statement as the server's superuser over the cluster's socket; its output."""
    proc = _run(
        [
            str(_pg_bin() / "psql"),
            "-h",
            str(sockets),
            "-p",
            str(port),
            "-U",
            OS_USER,
            "-d",
            db,
            "-v",
            "ON_ERROR_STOP=1",
            "-XAtq",
            "-c",
            sql,
        ]
    )
    return proc.stdout.strip()


def _psql(sql: str, db: str = "postgres") -> str:
    return psql(sql, sockets=socket_dir(), port=PORT, db=db)


def pg_ctl_start(
    data: Path, log: Path, *, timeout: int, options: str | None = None
) -> subprocess.CompletedProcess:
    """``pg_ctl start`` and wait (``options``: the server's extra command-line options)."""
    argv = [str(_pg_bin() / "pg_ctl"), "start", "-w", "-t", str(timeout), "-D", str(data)]
    argv += ["-l", str(log), *(["-o", options] if options else [])]
    return _run(argv, check=False)


def _ensure_running() -> None:
    if running():
        return
    if not logfile().exists():
        logfile().touch()
        _chown(logfile())
    socket_dir().mkdir(parents=True, exist_ok=True)
    _chown(socket_dir())
    proc = pg_ctl_start(pgdata(), logfile(), timeout=120, options=_tuning_options())
    if proc.returncode != 0:
        tail = logfile().read_text().splitlines()[-15:] if logfile().exists() else []
        raise SystemExit(
            f"bench.pg: the cluster did not start (port {PORT} taken? set BENCH_PG_PORT)\n"
            + proc.stdout
            + proc.stderr
            + "\n".join(tail)
        )
    for _ in range(50):
        if (
            _run(
                [str(_pg_bin() / "pg_isready"), "-h", str(socket_dir()), "-p", str(PORT)],
                check=False,
            ).returncode
            == 0
        ):
            return
        time.sleep(0.2)


def ensure_database(db: str = DEFAULT_DB) -> str:
    """Create the benchmark role and database `db` if missing; returns its DATABASE_URL."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", db):
        raise SystemExit(f"bench.pg: unsupported database name {db!r}")
    if not _psql(f"SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}'"):
        _psql(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'")
    # A throwaway cluster: superuser so the dataset loaders may switch off triggers and foreign
    # keys during bulk loads (session_replication_role) and tests may create databases.
    _psql(f"ALTER ROLE {ROLE} SUPERUSER")
    if not _psql(f"SELECT 1 FROM pg_database WHERE datname = '{db}'"):
        _psql(f"CREATE DATABASE {db} OWNER {ROLE}")
    return database_url(db)


def start(db: str = DEFAULT_DB) -> str:
    """Initialise (once) and start the cluster, make sure `db` exists; returns its DATABASE_URL."""
    if not initialised():
        _initdb()
    _ensure_running()
    return ensure_database(db)


def stop() -> None:
    """Stop the cluster (fast shutdown); its data stays for the next run."""
    if running():
        _run([str(_pg_bin() / "pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(pgdata())])


class TempCluster:
    """A cluster of its own in a fresh temporary directory owned by the server's user (never the
    checkout, which that user may not enter), on its own loopback ``port`` and socket directory;
    ``remove`` deletes it. The fault suite's cluster and the reports' streaming replica are ones.

    A subclass is a dataclass with the fields ``port`` and ``server_dir`` (None until created),
    and says how the data directory comes to be (``initdb`` or a copy) in its ``start``.
    """

    port: int
    server_dir: Path | None
    prefix = "desk-pg-"  # of the temporary directory's name

    @property
    def data(self) -> Path:
        return self._dir() / "pg"

    @property
    def sockets(self) -> Path:
        return self._dir() / "socket"

    @property
    def log(self) -> Path:
        return self._dir() / "pg.log"

    def _dir(self) -> Path:
        if self.server_dir is None:
            raise RuntimeError(f"{type(self).__name__}: the cluster is not created yet")
        return self.server_dir

    def url_of(self, db: str) -> str:
        return f"postgres://{ROLE}:{PASSWORD}@{HOST}:{self.port}/{db}"

    def create_dir(self) -> None:
        """The temporary directory with its socket directory and log file (once)."""
        if self.server_dir is not None:
            return
        self.server_dir = server_owned_tempdir(self.prefix)
        self.sockets.mkdir()
        _chown(self.sockets)
        self.log.touch()
        _chown(self.log)

    def _pg(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run a server binary (by name) as the server's user."""
        return _run([str(_pg_bin() / argv[0]), *argv[1:]], check=check)

    def _psql(self, sql: str) -> str:
        return psql(sql, sockets=self.sockets, port=self.port)

    def start_server(self, *, timeout: int = 60, options: str = "") -> subprocess.CompletedProcess:
        """``pg_ctl start`` on our port and socket directory (``options`` added)."""
        options = f"-p {self.port} -k {self.sockets} {options}".strip()
        return pg_ctl_start(self.data, self.log, timeout=timeout, options=options)

    def stop(self, mode: str = "fast") -> None:
        if self.server_dir is not None:
            self._pg("pg_ctl", "stop", "-w", "-m", mode, "-D", str(self.data), check=False)

    def remove(self) -> None:
        """Stop the server at once and delete its directory (``keep_log`` first)."""
        if self.server_dir is None:
            return
        self.stop("immediate")
        self.keep_log()
        shutil.rmtree(self.server_dir, ignore_errors=True)
        self.server_dir = None

    def keep_log(self) -> None:
        """What to save of the log before the directory goes (nothing, unless overridden)."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pg", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["start", "stop", "url", "status"])
    parser.add_argument("--db", default=DEFAULT_DB, help=f"database name (default {DEFAULT_DB})")
    args = parser.parse_args(argv)
    if args.command == "start":
        print(start(args.db))
    elif args.command == "stop":
        stop()
    elif args.command == "url":
        print(database_url(args.db))
    else:
        state = "running" if running() else ("stopped" if initialised() else "absent")
        print(f"{state} {pgdata()} port {PORT}")
        return 0 if state == "running" else 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
