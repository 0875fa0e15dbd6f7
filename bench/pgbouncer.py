"""PgBouncer in transaction mode in front of a loopback PostgreSQL, for the benchmarks and faults.

    .venv/bin/python -m bench.pgbouncer --server-port 5499 [--port 6432]   # runs until Ctrl-C

Debian's package (``apt-get install pgbouncer``; Debian 12 ships 1.18). ``PgBouncer.start``
writes its configuration into a fresh temporary directory owned by the server's user (it refuses
to run as root, so as root it runs as ``postgres``, like bench/pg.py's server), starts it in the
foreground as a child and waits for its port. Every database of the server is reachable through
it under the same name; the benchmark role logs in with SCRAM, PgBouncer logs in to the server
with the same password.

The desk behind it runs with ``DATABASE_TRANSACTION_POOLING=1`` (config/settings.py): nothing is
prepared (1.18 cannot carry a prepared statement from one server connection to the next:
protocol-level prepared statements arrived in 1.21, ``max_prepared_statements``) and no
server-side cursor outlives its transaction.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import pg as bench_pg

CONFIG = """\
[databases]
* = host=127.0.0.1 port={server_port}
{session_databases}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = {home}/userlist.txt
pool_mode = transaction
default_pool_size = {pool_size}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 2000
max_db_connections = {pool_size}
server_reset_query =
server_check_delay = 10
ignore_startup_parameters = extra_float_digits,options
logfile = {home}/pgbouncer.log
pidfile = {home}/pgbouncer.pid
log_connections = 0
log_disconnections = 0
"""


class Unavailable(RuntimeError):
    """The pgbouncer binary is not installed."""


def binary() -> str | None:
    return shutil.which("pgbouncer") or (
        "/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None
    )


def version() -> str:
    exe = binary()
    if not exe:
        return ""
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.split("\n", 1)[0].strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PgBouncer:
    """PgBouncer on ``port`` pooling at most ``pool_size`` server connections per database."""

    server_port: int
    port: int = 0
    pool_size: int = 20
    # Databases also offered as "<name>_session" in session mode (the worker's pool: auto-resolve
    # holds a session-level advisory lock, which a transaction pool cannot keep).
    session_databases: tuple[str, ...] = ()
    user: str = bench_pg.ROLE
    password: str = bench_pg.PASSWORD
    home: Path | None = None
    process: subprocess.Popen | None = None

    def url(self, db: str, *, session: bool = False) -> str:
        name = f"{db}_session" if session else db
        return f"postgres://{self.user}:{self.password}@127.0.0.1:{self.port}/{name}"

    def start(self) -> None:
        exe = binary()
        if not exe:
            raise Unavailable("pgbouncer is not installed (apt-get install pgbouncer)")
        self.port = self.port or free_port()
        self.home = bench_pg.server_owned_tempdir("desk-pgbouncer-")
        files = {
            "pgbouncer.ini": CONFIG.format(
                server_port=self.server_port,
                session_databases="".join(
                    f"{db}_session = host=127.0.0.1 port={self.server_port} dbname={db}"
                    " pool_mode=session\n"
                    for db in self.session_databases
                ),
                port=self.port,
                home=self.home,
                pool_size=self.pool_size,
            ),
            "userlist.txt": f'"{self.user}" "{self.password}"\n',
        }
        for name, text in files.items():
            path = self.home / name
            path.write_text(text)
            path.chmod(0o600)
            bench_pg._chown(path)
        self.process = subprocess.Popen(
            bench_pg._as_pg([exe, str(self.home / "pgbouncer.ini")]),
            cwd=self.home,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited:\n{self.log_tail()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.3),
            ):
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"pgbouncer did not listen on {self.port}:\n{self.log_tail()}")

    def log_tail(self, lines: int = 20) -> str:
        log = (self.home / "pgbouncer.log") if self.home else None
        if log is None or not log.exists():
            return ""
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            # runuser forwards SIGTERM to pgbouncer; SIGINT would wait for clients to leave.
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self.home is not None:
            shutil.rmtree(self.home, ignore_errors=True)
            self.home = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pgbouncer", description=__doc__)
    parser.add_argument("--server-port", type=int, default=bench_pg.PORT)
    parser.add_argument("--port", type=int, default=6432)
    parser.add_argument("--pool-size", type=int, default=20)
    args = parser.parse_args(argv)
    bouncer = PgBouncer(server_port=args.server_port, port=args.port, pool_size=args.pool_size)
    bouncer.start()
    print(f"{version()} on 127.0.0.1:{bouncer.port}: {bouncer.url('<db>')}", flush=True)
    try:
        bouncer.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        bouncer.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
