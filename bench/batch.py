"""Huge signed webhook batches against the production processes (issue 12 item 5).

    .venv/bin/python -m bench.batch [--posts 5] [--messages 10000] [--backends postgresql,sqlite]
        [--json]

gunicorn as ``config/gunicorn.py`` runs it (the Procfile's ``web`` line, production settings)
and a Celery worker (the Procfile's ``worker`` line), on loopback, twice:

- **postgresql**: the throwaway cluster of bench/pg.py (or the server of ``--database-url``),
  database ``desk_batch_bench`` dropped, created and migrated each run, a private Redis broker;
- **sqlite**: a fresh SQLite file and kombu's filesystem broker, as ``make run`` runs it
  (no DATABASE_URL, no REDIS_URL).

On each: ``--posts`` signed batches of 48 long text messages (3 MB, applied in the request) and
``--posts`` signed batches of ``--messages`` text messages from 50 customers (stored as received
and applied by the worker in chunks), every post with fresh message ids. Measured per size: the
answer time over real HTTP (p50 and max), the time from each post until the worker has applied
every one of its messages, and that each message is stored exactly once (count and distinct
provider ids). While each large batch is applied, a concurrent login (a fresh client: GET
/login/, POST /login/ as the demo user) runs once per second: its latency and any answer that is
not the login's redirect (a "database is locked" would be a 500); the web and worker logs are
searched for "database is locked" too.

Target: every answer < 1 s. Results: bench/RESULTS.md; how it works: docs/whatsapp.md.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg

from bench import http_load, webhook_load
from bench import pg as bench_pg
from bench.faults import infra

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = "desk_batch_bench"
APP_SECRET = "batch-bench-app-secret"  # noqa: S105 - a loopback-only benchmark
PASSWORD = "batch-bench-Demo-pass-1"  # noqa: S105
PNID = "109876543210987"
CUSTOMERS = 50
LONG_MESSAGES = 48
LONG_PAD = 64_000
TARGET_S = 1.0
APPLY_TIMEOUT_S = 900.0
LOGIN_EVERY_S = 1.0
WEBHOOK = "/webhooks/whatsapp/"
CSRF_FIELD = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')

SETUP = """
import os
from django.contrib.auth import get_user_model
from channels_app.access import Role
from channels_app.models import AccessGrant, Channel
channel = Channel.objects.create(
    phone_number_id=os.environ["BATCH_PNID"], display_name="Batch bench",
    waba_id="104455667788990", display_phone_number="+1 555-010-0234",
    verified_name="Batch bench", access_token="batch-bench-token")
user = get_user_model().objects.create_user(
    "demo", password=os.environ["BATCH_PASSWORD"], first_name="Demo", last_name="Agent")
AccessGrant.objects.create(channel=channel, user=user, role=Role.CONTRIBUTOR)
"""


def _log(message: str) -> None:
    print(f"[bench.batch] {message}", file=sys.stderr, flush=True)


# --- the payloads (tests/whatsapp/test_inbound_payloads.py::_batch, with fresh ids) ------------


def batch_body(tag: str, count: int, *, pad: int = 0) -> bytes:
    """``count`` text messages from 50 customers in one body of Meta's shape; ``pad`` characters
    appended to each message's text (48 × 64,000 is the 3 MB batch)."""
    now = int(time.time())
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "104455667788990", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550100234", "phone_number_id": PNID},
            "contacts": [{"profile": {"name": f"Customer {c}"}, "wa_id": f"1555555{c:04d}"}
                         for c in range(CUSTOMERS)],
            "messages": [
                {"from": f"1555555{n % CUSTOMERS:04d}", "id": f"wamid.{tag}.{n:06d}",
                 "timestamp": str(now - count + n), "type": "text",
                 "text": {"body": f"message {n}" + (" " + "x" * pad if pad else "")}}
                for n in range(count)
            ],
        }}]}],
    }  # fmt: skip
    return json.dumps(payload).encode()


def _signature(body: bytes) -> str:
    return "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()


# --- the database, whichever it is -------------------------------------------------------------


def _query(database_url: str, sql: str, params: list) -> tuple:
    if database_url.startswith("sqlite:"):
        with contextlib.closing(sqlite3.connect(urlsplit(database_url).path, timeout=30)) as db:
            return db.execute(sql.replace("%s", "?"), params).fetchone()
    with psycopg.connect(webhook_load._dsn(database_url)) as conn:
        return conn.execute(sql, params).fetchone()


def stored(database_url: str, tag: str) -> tuple[int, int]:
    """(messages, distinct provider ids) of one post."""
    return _query(
        database_url,
        "SELECT count(*), count(DISTINCT provider_message_id) FROM conversations_message"
        " WHERE provider_message_id LIKE %s",
        [f"wamid.{tag}.%"],
    )


def pending_payloads(database_url: str) -> int:
    return _query(
        database_url, "SELECT count(*) FROM conversations_inboundpayload WHERE status <> %s",
        ["done"],
    )[0]  # fmt: skip


# --- the concurrent login ----------------------------------------------------------------------


class Logins(threading.Thread):
    """A fresh client logs in as the demo user once per second until stopped."""

    def __init__(self, port: int):
        super().__init__(daemon=True)
        self.base = f"http://127.0.0.1:{port}"
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.halt = threading.Event()

    def one(self) -> None:
        with httpx.Client(base_url=self.base, timeout=60, follow_redirects=False) as client:
            form = client.get("/login/")
            token = CSRF_FIELD.search(form.content)
            started = time.perf_counter()
            response = client.post(
                "/login/",
                data={"username": "demo", "password": PASSWORD,
                      "csrfmiddlewaretoken": token.group(1).decode() if token else ""},
                headers={"Referer": f"{self.base}/login/"},
            )  # fmt: skip
            elapsed = time.perf_counter() - started
        if response.status_code == 302 and "sessionid" in response.cookies:
            self.latencies.append(elapsed)
        else:
            self.errors.append(str(response.status_code))

    def run(self) -> None:
        while not self.halt.is_set():
            began = time.monotonic()
            try:
                self.one()
            except httpx.HTTPError as exc:
                self.errors.append(type(exc).__name__)
            self.halt.wait(max(0.0, LOGIN_EVERY_S - (time.monotonic() - began)))


# --- one backend -------------------------------------------------------------------------------


def _post(port: int, body: bytes) -> tuple[float, int, dict | None]:
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": _signature(body)}
    started = time.perf_counter()
    response = httpx.post(f"http://127.0.0.1:{port}{WEBHOOK}", content=body, headers=headers,
                          timeout=60)  # fmt: skip
    elapsed = time.perf_counter() - started
    try:
        answer = response.json()
    except ValueError:
        answer = None
    return elapsed, response.status_code, answer


def _size(port, database_url, *, name, posts, count, pad, logins, web_pid) -> dict:
    """``posts`` batches of ``count`` messages, one after the other: each answer, then the wait
    until all its messages are stored (with a login per second meanwhile when ``logins`` is a
    list). ``web_pid``: gunicorn's master, whose process tree's CPU seconds per answer are the
    figure a busy machine does not inflate."""
    answers, applied, problems, exact, cpu = [], [], [], True, []
    size_mb = 0.0
    for p in range(posts):
        tag = f"{name}{int(time.time())}p{p}"
        body = batch_body(tag, count, pad=pad)
        size_mb = len(body) / 1e6
        cpu_before = http_load.tree_cpu(web_pid, http_load._parents())
        started = time.perf_counter()
        elapsed, status, answer = _post(port, body)
        answers.append(elapsed)
        cpu.append(http_load.tree_cpu(web_pid, http_load._parents()) - cpu_before)
        login = Logins(port) if logins is not None else None
        if login:  # while the worker applies the batch
            login.start()
        if status != 200:
            problems.append(f"post {p}: HTTP {status} {answer}")
        deadline = time.monotonic() + APPLY_TIMEOUT_S
        while True:
            total, distinct = stored(database_url, tag)
            if total >= count or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        applied.append(time.perf_counter() - started)
        if login:
            login.halt.set()
            login.join(timeout=70)
            logins.append(login)
        time.sleep(1.0)  # a late duplicate would show up here
        total, distinct = stored(database_url, tag)
        if not (total == distinct == count):
            exact = False
            problems.append(f"post {p}: {total} stored, {distinct} distinct of {count}")
        _log(f"{name} post {p}: answered in {elapsed * 1000:.0f} ms (web CPU "
             f"{cpu[-1] * 1000:.0f} ms), applied in "
             f"{applied[-1]:.1f} s, {total} stored / {distinct} distinct")  # fmt: skip
    ordered = sorted(answers)
    return {
        "messages": count,
        "posts": posts,
        "body_mb": round(size_mb, 2),
        "answer_p50_ms": round(webhook_load._percentile(ordered, 50) * 1000, 1),
        "answer_max_ms": round(ordered[-1] * 1000, 1),
        "applied_p50_s": round(webhook_load._percentile(sorted(applied), 50), 2),
        "applied_max_s": round(max(applied), 2),
        "messages_per_s": round(count * posts / sum(applied), 0),
        "web_cpu_per_answer_ms": round(sorted(cpu)[len(cpu) // 2] * 1000, 0),
        "exactly_once": exact,
        "problems": problems,
        "met": exact and not problems and ordered[-1] < TARGET_S,
    }


def _grep(logs: Path, text: str) -> int:
    return sum(path.read_text(errors="replace").count(text) for path in logs.glob("*.log"))


def run_backend(backend: str, *, posts: int, messages: int, server_url: str | None) -> dict:
    home = Path(tempfile.mkdtemp(prefix=f"desk-batch-{backend}-"))
    web_port = infra.free_port()
    redis = None
    procs = None
    if backend == "postgresql":
        database_url = (
            http_load._with_db(server_url, DEFAULT_DB) if server_url else bench_pg.start(DEFAULT_DB)
        )
        http_load.fresh_database(database_url)
        redis = infra.Redis(port=infra.free_port(), home=home)
        redis.start()
        redis_url = redis.url
    else:
        database_url = f"sqlite:///{home / 'db.sqlite3'}"
        redis_url = ""
    env = http_load.stack_env(
        database_url, web_port=web_port, emulator_port=infra.free_port(), redis_url=redis_url,
        home=home, pooling=False,
    )  # fmt: skip
    env["WHATSAPP_APP_SECRET"] = APP_SECRET
    if backend == "sqlite":  # `make run`: no broker server, kombu's filesystem transport
        env.pop("REDIS_URL", None)
        broker = home / "broker"
        for sub in ("processed", "control"):
            (broker / sub).mkdir(parents=True, exist_ok=True)
        env["CELERY_BROKER_DIR"] = str(broker)
    try:
        python = str(infra.BIN / "python")
        subprocess.run([python, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT,
                       env=env, check=True)  # fmt: skip
        setup_env = {**env, "BATCH_PNID": PNID, "BATCH_PASSWORD": PASSWORD}
        proc = subprocess.run(
            [python, "manage.py", "shell", "-c", SETUP], cwd=ROOT, env=setup_env,
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if proc.returncode:
            raise SystemExit(f"bench.batch: setup failed:\n{proc.stderr[-2000:]}")
        procs = infra.Processes(env=env, logs=home / "logs")
        procs.start("web")
        procs.start("worker")
        if not infra.wait_port(web_port, timeout=120):
            raise SystemExit(f"bench.batch: gunicorn not listening on {web_port}")
        httpx.get(f"http://127.0.0.1:{web_port}/login/", timeout=30)  # warm both workers
        httpx.get(f"http://127.0.0.1:{web_port}/login/", timeout=30)
        # A running server is warm: each gunicorn worker and the Celery worker have handled a
        # batch (60 messages: stored and applied by the worker) before anything is timed.
        for w in range(2):
            _post(web_port, batch_body(f"warm{w}", 60))
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and any(
            stored(database_url, f"warm{w}")[0] < 60 for w in range(2)
        ):
            time.sleep(0.5)
        logins: list[Logins] = []
        long = _size(web_port, database_url, name="l", posts=posts, count=LONG_MESSAGES,
                     pad=LONG_PAD, logins=None, web_pid=procs.running["web"].pid)  # fmt: skip
        big = _size(web_port, database_url, name="b", posts=posts, count=messages, pad=0,
                    logins=logins, web_pid=procs.running["web"].pid)  # fmt: skip
        latencies = sorted(x for login in logins for x in login.latencies)
        errors = [e for login in logins for e in login.errors]
        locked = _grep(home / "logs", "database is locked")
        dead = procs.dead()
        left = pending_payloads(database_url)
    finally:
        if procs:
            procs.stop_all()
        if redis:
            redis.stop()
        shutil.rmtree(home, ignore_errors=True)
    p50 = webhook_load._percentile(latencies, 50) if latencies else None
    return {
        "backend": backend,
        "3mb": long,
        "large": big,
        "login": {
            "count": len(latencies),
            "p50_ms": round(p50 * 1000, 1) if p50 is not None else None,
            "max_ms": round(latencies[-1] * 1000, 1) if latencies else None,
            "errors": len(errors),
            "error_kinds": sorted(set(errors))[:5],
        },
        "database_is_locked_in_logs": locked,
        "payloads_left": left,
        "processes_died": dead,
        "correct": long["exactly_once"] and big["exactly_once"] and not errors and not locked
        and not dead and left == 0,
    }  # fmt: skip


def run(
    database_url: str | None = None, *, posts: int = 5, messages: int = 10_000,
    backends: tuple[str, ...] = ("postgresql", "sqlite"),
) -> dict:  # fmt: skip
    results = {}
    for backend in backends:
        _log(f"{backend}: {posts} × 3 MB and {posts} × {messages:,} messages")
        results[backend] = run_backend(
            backend, posts=posts, messages=messages, server_url=database_url
        )
    return {"name": "batch", "posts": posts, "messages": messages, "backends": results,
            "target_ms": TARGET_S * 1000}  # fmt: skip


def report(r: dict) -> str:
    lines = [
        "| backend | batch | body | answer p50 / max | web CPU / answer | applied p50 / max | msg/s"
        " | exactly once |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, b in r["backends"].items():
        for key in ("3mb", "large"):
            s = b[key]
            lines.append(
                f"| {name} | {s['posts']} × {s['messages']:,} msgs | {s['body_mb']} MB | "
                f"{s['answer_p50_ms']} / {s['answer_max_ms']} ms | {s['web_cpu_per_answer_ms']:.0f}"
                f" ms | {s['applied_p50_s']} / "
                f"{s['applied_max_s']} s | {s['messages_per_s']:.0f} | {s['exactly_once']} |"
            )
    for name, b in r["backends"].items():
        lg = b["login"]
        lines.append(
            f"{name}: concurrent logins {lg['count']} ok, p50 {lg['p50_ms']} ms, max "
            f"{lg['max_ms']} ms, errors {lg['errors']} {' '.join(lg['error_kinds'])}; "
            f"'database is locked' in logs: {b['database_is_locked_in_logs']}; payloads left "
            f"{b['payloads_left']}; processes died: {b['processes_died'] or 'none'}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.batch", description=__doc__)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--posts", type=int, default=5)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.posts < 1 or not 51 <= args.messages <= 50_000:
        parser.error("--posts must be ≥ 1 and --messages between 51 and 50,000")
    backends = tuple(b.strip() for b in args.backends.split(",") if b.strip())
    if set(backends) - {"postgresql", "sqlite"}:
        parser.error("--backends takes postgresql and/or sqlite")
    # A SIGTERM unwinds like an error: gunicorn, the worker and Redis are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    result = run(args.database_url, posts=args.posts, messages=args.messages, backends=backends)
    print(json.dumps(result) if args.json else report(result))
    return 0 if all(b["correct"] for b in result["backends"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
