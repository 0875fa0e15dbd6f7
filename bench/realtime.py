"""Live push under 500 connected agents (issue 15): latency, idle cost, a burst, and polling.

    .venv/bin/python -m bench.realtime [--database-url URL] [--agents 500] [--quick] [--json]

Without --database-url (or DATABASE_URL) it uses the throwaway tuned cluster of bench/pg.py;
the database is ``desk_realtime_bench`` (dropped and created: its name must contain "bench").

1. **Data**: one WhatsApp channel, ``agents`` Contributors on it and 50 users without access, 20
   customers with an open conversation; a session per user (the sockets sign in with it).
2. **Processes** as the Procfile runs them: gunicorn (``web``, 2 sync workers) answers the signed
   webhooks, uvicorn (``ws``) serves the sockets; Redis pub/sub carries the pushes (its own
   channel prefix). Production settings (DEBUG off), loopback.
3. **Sockets**: every user's page socket (``/ws/desk/``) in this one asyncio process.
4. **Idle**: nothing happens for ``idle`` seconds but the pages' heartbeats (a ping every 25 s
   per socket, as static/realtime/socket.js sends): the uvicorn process's CPU and the database's
   transactions (``pg_stat_database``: every query of Django's autocommit is one) in that window.
5. **Latency**: 30 signed inbound webhooks, one every 250 ms, each with a unique text; from the
   webhook's 200 to the frame with that text (the row the inbox puts in place) on every socket.
6. **Burst**: 100 inbound messages in one second (5 each for 20 conversations, open loop): every
   agent must receive each exactly once and each conversation's in order; outsiders nothing.
7. **Polling, as before issue 15**: the inbox's fragment (``?fragment=list``) fetched 60 times
   from gunicorn: its CPU and queries per render, times 50 renders a second (500 agents every
   10 s).

Targets: p50 <= 200 ms, p95 <= 1 s; idle < 5 % of one core and 0 queries; the burst exact.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from bench import webhook_load
from bench.webhook_load import APP_SECRET, _cpu_seconds, _dsn, _percentile, signed_request

DB_NAME = "desk_realtime_bench"
REDIS_URL = os.environ.get("REALTIME_BENCH_REDIS_URL", "redis://127.0.0.1:6379/2")
PNID = "109876543299001"
CUSTOMERS = 20
OUTSIDERS = 50
WA_BASE = 491600000000
HEARTBEAT_S = 25


def _log(message: str) -> None:
    print(f"[bench.realtime] {message}", file=sys.stderr, flush=True)


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def fresh_database(url: str) -> None:
    with psycopg.connect(_dsn(_with_db(url, "postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')


SEED = """
import json, sys
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone
from channels_app.access import Role
from channels_app.models import AccessGrant, Channel
from conversations.models import Contact, Conversation, Message

agents, outsiders, customers, pnid, wa_base = json.loads(sys.argv[1])
channel = Channel.objects.create(display_name="Bench live", phone_number_id=pnid,
    waba_id="104455667788990", display_phone_number="15550100999", verified_name="Bench",
    access_token="bench-token")
User = get_user_model()
users = User.objects.bulk_create(User(username=f"rt{i}", password="!") for i in range(agents))
others = User.objects.bulk_create(User(username=f"rx{i}", password="!") for i in range(outsiders))
AccessGrant.objects.bulk_create(
    AccessGrant(channel=channel, user=u, role=Role.CONTRIBUTOR) for u in users)
now = timezone.now()
for i in range(customers):
    contact = Contact.objects.create(wa_id=str(wa_base + i), profile_name=f"Customer {i}")
    c = Conversation.objects.create(channel=channel, contact=contact, opened_at=now,
        last_activity_at=now, last_customer_message_at=now, last_message_preview="hello")
    Message.objects.create(conversation=c, channel=channel, direction="in", body="hello",
        created_at=now, provider_message_id=f"wamid.rt-seed-{i}")
def session(user):
    s = SessionStore()
    s[SESSION_KEY] = str(user.pk)
    s[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    s[HASH_SESSION_KEY] = user.get_session_auth_hash()
    s.create()
    return s.session_key
print(json.dumps({"agents": [session(u) for u in users],
                  "outsiders": [session(u) for u in others]}))
"""


def seed(database_url: str, agents: int) -> dict:
    # The servers' settings (their secret key and field encryption key) for the stored rows.
    env = {**_env(database_url, "seed"), "DJANGO_SETTINGS_MODULE": "config.settings"}
    code = "import django; django.setup()\n" + SEED
    spec = json.dumps([agents, OUTSIDERS, CUSTOMERS, PNID, WA_BASE])
    out = subprocess.run(
        [sys.executable, "-c", code, spec],
        cwd=webhook_load.BASE_DIR,
        env=env,
        check=False,
        capture_output=True,
        text=True,
    )
    if out.returncode:
        raise SystemExit("realtime: seeding failed:\n" + out.stderr[-3000:])
    with psycopg.connect(_dsn(database_url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")  # no autovacuum transactions in the idle window
    return json.loads(out.stdout.strip().splitlines()[-1])


# One key for the seeding process and both servers: a session's auth hash depends on it.
SECRET_KEY = "realtime-bench-loopback-only-" + uuid.uuid4().hex * 2


def _env(database_url: str, prefix: str) -> dict[str, str]:
    env = webhook_load.server_env(database_url)
    env.update(
        REDIS_URL=REDIS_URL,
        REALTIME_PREFIX=prefix,
        WHATSAPP_APP_SECRET=APP_SECRET,
        SECRET_KEY=SECRET_KEY,
    )
    return env


def start_gunicorn(database_url: str, *, port: int, prefix: str, log: Path) -> subprocess.Popen:
    """The Procfile's web line (config/gunicorn.py, 2 sync workers) on a free port."""
    argv = [
        sys.executable, "-m", "gunicorn", "config.wsgi", "-c", "config/gunicorn.py",
        "--workers", "2", "--bind", f"127.0.0.1:{port}",
    ]  # fmt: skip
    proc = subprocess.Popen(
        argv,
        cwd=webhook_load.BASE_DIR,
        env=_env(database_url, prefix),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("realtime: gunicorn exited:\n" + log.read_text()[-3000:])
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit("realtime: gunicorn did not start within 60 s")


def start_uvicorn(database_url: str, *, port: int, prefix: str, log: Path) -> subprocess.Popen:
    """The Procfile's ws line on a free port."""
    argv = [
        sys.executable, "-m", "uvicorn", "config.asgi:application",
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
        "--ws-ping-interval", "20", "--ws-ping-timeout", "20",
    ]  # fmt: skip
    proc = subprocess.Popen(
        argv,
        cwd=webhook_load.BASE_DIR,
        env=_env(database_url, prefix),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("realtime: uvicorn exited:\n" + log.read_text()[-3000:])
        if b"Application startup complete" in log.read_bytes():
            return proc
        time.sleep(0.2)
    proc.terminate()
    raise SystemExit("realtime: uvicorn did not start within 60 s")


def transactions(database_url: str) -> int:
    """Committed plus rolled-back transactions of the bench database so far (the statistics
    are flushed on a short delay, so callers wait a second before reading)."""
    with psycopg.connect(_dsn(database_url), autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s",
            [DB_NAME],
        ).fetchone()
    return int(row[0])


PG_LOG = Path("/var/log/postgresql/postgresql-15-main.log")


def log_statements(database_url: str) -> bool:
    """Have PostgreSQL log every statement of the bench database (a superuser can), so the idle
    window's queries are counted exactly from the server's log; False when it cannot be read."""
    if not PG_LOG.exists() or not os.access(PG_LOG, os.R_OK):
        return False
    try:
        with psycopg.connect(_dsn(database_url), autocommit=True) as conn:
            conn.execute(f"ALTER DATABASE \"{DB_NAME}\" SET log_statement = 'all'")
    except psycopg.Error:
        return False
    return True


def logged_statements(start: int, end: int) -> list[str]:
    """The bench database's statements in the server log between two byte offsets, without
    this script's own readings of the statistics."""
    with PG_LOG.open("rb") as log:
        log.seek(start)
        text = log.read(end - start).decode("utf-8", "replace")
    return [
        line
        for line in text.splitlines()
        if f"@{DB_NAME}" in line and "statement:" in line and "pg_stat" not in line
    ]


class Agent:
    """One page's socket: what it received, when."""

    def __init__(self, cookie: str, *, allowed: bool):
        self.cookie = cookie
        self.allowed = allowed
        self.seen: dict[str, float] = {}  # text -> arrival
        self.message_ids: list[tuple[int, int]] = []  # (conversation, message id) in order
        self.frames = 0
        self.burst_frames = 0
        self.ws = None

    async def run(self, port: int, ready: asyncio.Event) -> None:
        import websockets

        url = f"ws://127.0.0.1:{port}/ws/desk/?lang=en"
        headers = {"Cookie": f"sessionid={self.cookie}", "Origin": f"http://127.0.0.1:{port}"}
        async with websockets.connect(url, additional_headers=headers, open_timeout=60) as ws:
            self.ws = ws
            await ws.send('{"type": "ping"}')
            beat = asyncio.create_task(self._heartbeat(ws))
            try:
                await self._read(ws, ready)
            finally:
                beat.cancel()

    async def _read(self, ws, ready: asyncio.Event) -> None:
        async for raw in ws:
            frame = json.loads(raw)
            if frame["kind"] == "pong":
                ready.set()
                continue
            if frame["kind"] != "message":
                continue
            now = time.monotonic()
            self.frames += 1
            self.burst_frames += 1
            data = frame["data"]
            self.seen.setdefault(data.get("preview", ""), now)
            self.message_ids.extend((data["id"], m) for m in data["message_ids"])

    @staticmethod
    async def _heartbeat(ws) -> None:
        """The page's heartbeat (static/realtime/socket.js: every 25 s), at a random phase."""
        await asyncio.sleep(random.uniform(0, HEARTBEAT_S))
        while True:
            await ws.send('{"type": "ping"}')
            await asyncio.sleep(HEARTBEAT_S)


async def _post(port: int, body: bytes) -> float:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(body)
        await writer.drain()
        response = await reader.read()
    finally:
        writer.close()
    if response[9:12] != b"200":
        raise SystemExit(f"realtime: the webhook answered {response[:200]!r}")
    return time.monotonic()


def _message(i: int, text: str) -> dict:
    customer = i % CUSTOMERS
    return {
        "pnid": PNID,
        "name": f"Customer {customer}",
        "wa_id": str(WA_BASE + customer),
        "wamid": f"wamid.rt-{uuid.uuid4().hex}",
        "ts": int(time.time()),
        "text": text,
    }


async def measure(args, keys: dict, web_port: int, ws_port: int, uv_pid: int, url: str) -> dict:
    agents = [Agent(k, allowed=True) for k in keys["agents"]]
    outsiders = [Agent(k, allowed=False) for k in keys["outsiders"]]
    everyone = agents + outsiders
    tasks, readies = [], []
    started = time.monotonic()
    for batch in range(0, len(everyone), 50):  # 50 handshakes at a time
        group = []
        for agent in everyone[batch : batch + 50]:
            ready = asyncio.Event()
            readies.append(ready)
            group.append(ready)
            tasks.append(asyncio.create_task(agent.run(ws_port, ready)))
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in group)), 120)
    _log(f"{len(everyone)} sockets connected in {time.monotonic() - started:.1f} s")

    # Idle. PostgreSQL flushes an idle backend's statistics up to 10 s late, so the connections'
    # queries settle first and the window's are read 11 s after it; a reading of the statistics
    # costs transactions of its own: measured first.
    await asyncio.sleep(12)
    before = transactions(url)
    await asyncio.sleep(1.0)
    overhead = transactions(url) - before
    tx0, cpu0, t0 = transactions(url), _cpu_seconds([uv_pid]), time.monotonic()
    log0 = PG_LOG.stat().st_size if args.log_start is not None else 0
    await asyncio.sleep(args.idle / 2)
    if os.environ.get("REALTIME_BENCH_DEBUG"):
        with psycopg.connect(_dsn(url), autocommit=True) as conn:
            for row in conn.execute(
                "SELECT pid, backend_type, state, left(query, 120), query_start"
                " FROM pg_stat_activity WHERE datname = %s",
                [DB_NAME],
            ):
                _log(f"activity: {row}")
    await asyncio.sleep(args.idle / 2)
    cpu1, t1 = _cpu_seconds([uv_pid]), time.monotonic()
    log1 = PG_LOG.stat().st_size if args.log_start is not None else 0
    await asyncio.sleep(11.0)  # the statistics' flush delay
    idle_queries = transactions(url) - tx0 - overhead
    idle = {"seconds": round(t1 - t0, 1), "cpu_pct": round(100 * (cpu1 - cpu0) / (t1 - t0), 2)}
    idle["transactions"] = max(0, idle_queries)  # approximate: the statistics' flush is lazy
    if args.log_start is not None:
        statements = logged_statements(log0, log1)
        idle["queries"] = len(statements)
        idle["statements"] = statements[:5]
    else:
        idle["queries"] = idle["transactions"]
    _log(f"idle: {idle}")

    # Latency: each text waited for on every socket (up to 5 s), then the next one.
    latencies, missing = [], 0
    for i in range(args.latency_messages):
        text = f"latency {i} {uuid.uuid4().hex[:8]}"
        answered = await _post(web_port, signed_request(_message(i, text), port=web_port))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(text not in a.seen for a in agents):
            await asyncio.sleep(0.02)
        for agent in agents:
            at = agent.seen.get(text)
            if at is None:
                missing += 1
            else:
                # A push made before the webhook's answer left (it is sent after commit, inside
                # the request) counts as 0.
                latencies.append(max(0.0, at - answered))
        await asyncio.sleep(0.25)
    latencies.sort()
    latency = {
        "samples": len(latencies),
        "missing_after_5s": missing,
        "p50_ms": round(1000 * _percentile(latencies, 0.50), 1) if latencies else None,
        "p95_ms": round(1000 * _percentile(latencies, 0.95), 1) if latencies else None,
        "max_ms": round(1000 * latencies[-1], 1) if latencies else None,
    }
    _log(f"latency: {latency}")

    # Burst: 100 in one second, open loop.
    for agent in everyone:
        agent.message_ids.clear()
        agent.burst_frames = 0
    bodies = [
        signed_request(_message(i, f"burst {i // CUSTOMERS} to {i % CUSTOMERS}"), port=web_port)
        for i in range(100)
    ]
    loop = asyncio.get_running_loop()
    # Where the burst's time goes: the ASGI process's CPU and this client process's own.
    asgi_cpu0, client_cpu0 = _cpu_seconds([uv_pid]), time.process_time()
    start = loop.time()
    sends = []
    for i, body in enumerate(bodies):
        delay = start + i / 100 - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        sends.append(asyncio.create_task(_post(web_port, body)))
    await asyncio.gather(*sends)
    sent_in = loop.time() - start
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and any(len(a.message_ids) < 100 for a in agents):
        await asyncio.sleep(0.2)
    arrived_in = loop.time() - start
    asgi_cpu, client_cpu = _cpu_seconds([uv_pid]) - asgi_cpu0, time.process_time() - client_cpu0
    by_deadline = [len(a.message_ids) for a in agents]
    # Late or lost? Past the 60 s the measure allows, wait up to 120 s more and say which.
    late_deadline = time.monotonic() + 120
    while time.monotonic() < late_deadline and any(len(a.message_ids) < 100 for a in agents):
        await asyncio.sleep(0.5)
    exact = in_order = 0
    for agent, on_time in zip(agents, by_deadline, strict=True):
        ids = [m for _c, m in agent.message_ids]
        exact += on_time == 100 and len(ids) == 100 and len(set(ids)) == 100
        per: dict[int, list[int]] = {}
        for conversation, message in agent.message_ids:
            per.setdefault(conversation, []).append(message)
        in_order += all(seq == sorted(seq) for seq in per.values())
    counts = [len(a.message_ids) for a in agents]
    burst = {
        "sent_in_s": round(sent_in, 2),
        "all_arrived_in_s": round(arrived_in, 1),
        "received_min_max": [min(by_deadline), max(by_deadline)],
        # After the extra wait: what had only been late (not lost), and when all had arrived.
        "received_min_max_late": [min(counts), max(counts)],
        "late_all_arrived_in_s": round(loop.time() - start, 1) if min(counts) == 100 else None,
        "duplicates": sum(len(a.message_ids) - len(set(a.message_ids)) for a in agents),
        "agents_exactly_once": exact,
        "agents_in_order": in_order,
        "agents": len(agents),
        "outsider_frames": sum(a.frames for a in outsiders),
        "cpu_s_asgi_client": [round(asgi_cpu, 1), round(client_cpu, 1)],
        "frames_per_agent_min_max": [min(a.burst_frames for a in agents),
                                     max(a.burst_frames for a in agents)],
        # A socket that ended during the run (keepalive timeout, server close) gets no more.
        "sockets_closed": sorted(
            {repr(t.exception())[:120] for t in tasks if t.done() and not t.cancelled()}
        ),
        "sockets_closed_count": sum(1 for t in tasks if t.done()),
    }  # fmt: skip
    _log(f"burst: {burst}")
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"idle": idle, "latency": latency, "burst": burst}


def polling(web_port: int, cookie: str, url: str, gunicorn_pid: int, renders: int = 60) -> dict:
    """Today's fallback: the inbox fragment every 10 s per agent; its cost per render."""
    import urllib.request

    request = urllib.request.Request(
        f"http://127.0.0.1:{web_port}/inbox/?status=new&fragment=list",
        headers={"Cookie": f"sessionid={cookie}", "HX-Request": "true"},
    )
    pids = webhook_load._children(gunicorn_pid)
    for _ in range(3):
        urllib.request.urlopen(request, timeout=30).read()  # noqa: S310 - loopback
    time.sleep(1.0)
    tx0, cpu0, t0 = transactions(url), _cpu_seconds(pids), time.monotonic()
    for _ in range(renders):
        urllib.request.urlopen(request, timeout=30).read()  # noqa: S310 - loopback
    cpu1, wall = _cpu_seconds(pids), time.monotonic() - t0
    time.sleep(1.0)
    queries = (transactions(url) - tx0 - 1) / renders
    per_render_ms = 1000 * (cpu1 - cpu0) / renders
    return {
        "render_cpu_ms": round(per_render_ms, 1),
        "render_wall_ms": round(1000 * wall / renders, 1),
        "queries_per_render": round(queries, 1),
        "at_500_agents_cpu_pct": round(50 * per_render_ms / 10, 1),  # 50 renders/s, % of a core
        "at_500_agents_queries_per_s": round(50 * queries),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    args.idle = 10 if args.quick else 30
    args.latency_messages = 10 if args.quick else 30
    base = args.database_url
    if not base:
        from bench import pg

        base = pg.ensure_cluster()
    url = _with_db(base, DB_NAME)
    fresh_database(base)
    webhook_load.migrate(url)
    keys = seed(url, args.agents)
    args.log_start = 0 if log_statements(url) else None
    _log(f"seeded {args.agents} agents, {OUTSIDERS} outsiders, {CUSTOMERS} conversations")
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    logs = Path(os.environ.get("BENCH_LOG_DIR", "/tmp"))  # noqa: S108 - the bench's logs
    web_port, ws_port = webhook_load._free_port(), webhook_load._free_port()
    web = start_gunicorn(url, port=web_port, prefix=prefix, log=logs / "realtime-web.log")
    ws = start_uvicorn(url, port=ws_port, prefix=prefix, log=logs / "realtime-ws.log")
    try:
        result = asyncio.run(measure(args, keys, web_port, ws_port, ws.pid, url))
        result["polling"] = polling(web_port, keys["agents"][0], url, web.pid)
        _log(f"polling: {result['polling']}")
    finally:
        webhook_load.stop_server(ws)
        webhook_load.stop_server(web)
    load1, load5, _ = os.getloadavg()
    result.update(agents=args.agents, outsiders=OUTSIDERS, load=[round(load1, 1), round(load5, 1)])
    lat, idle, burst = result["latency"], result["idle"], result["burst"]
    result["met"] = {
        "latency": lat["p50_ms"] is not None and lat["p50_ms"] <= 200 and lat["p95_ms"] <= 1000,
        "idle": idle["cpu_pct"] < 5 and idle["queries"] == 0,
        "burst": burst["agents_exactly_once"] == burst["agents"] == burst["agents_in_order"]
        and burst["outsider_frames"] == 0,
    }
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
