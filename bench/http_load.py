"""Real HTTP load on the production process set: 200 agents and 100 signed webhooks/s.

    .venv/bin/python -m bench.http_load [--agents 200] [--webhook-rate 100] [--duration 90]
        [--quick] [--pgbouncer] [--json]

What runs (all on loopback, nothing outside this machine):

- **Database**: the throwaway tuned cluster of bench/pg.py, database ``desk_http_bench``, dropped,
  created and migrated each run (with DATABASE_URL set, only its server and credentials).
- **Processes**: the Procfile's three lines exactly as written (``web``: gunicorn with
  config/gunicorn.py, 2 sync workers; ``worker``: Celery, concurrency 2; ``beat``) with
  production settings (DEBUG off, a SECRET_KEY, an encryption key, a private Redis), plus the
  WhatsApp emulator (``manage.py whatsapp_emulator --seed-from-db``) as the Graph API the worker
  sends the replies to. Only the HTTPS-only flags are off: there is no TLS proxy on loopback.
- **Data**: 40 channels; one user per simulated agent (``httpagent000`` ...), each a
  Contributor on one channel (5 agents per channel, so django-axes, which counts failures per
  user and per address, never sees a failure); per channel 12 open conversations from customers
  who wrote within the last hours (the 24-hour window is open) with 4 messages each, and 40
  resolved ones.
- **Agents** (``--agents``; bench/http_agents.py in a process of its own, asyncio + httpx, one
  client with its own cookie jar per agent): ``GET /login/``, ``POST /login/`` with the form's
  CSRF token (the logins are spread over a ramp, and the measured window opens a second after
  the last one: each costs a PBKDF2 check of about half a CPU-second, which a desk pays once
  per shift, not per page), then until the end: the inbox, a conversation of its channel, a
  think time of 4 to 12 s, and every 30 s (first one at a random offset) a reply to the open
  conversation (``POST .../reply/``, a 302 back).
- **Webhooks** (``--webhook-rate``): Meta's shape, one text message each, signed with
  HMAC-SHA256, on a fresh connection each, open loop (latency from each request's scheduled
  instant); 85 % from the seeded customers, 15 % from new numbers.

Measured, in the window after the ramp: p50/p95/p99 and count per endpoint, errors (any status
other than the expected one, or a failed connection), and the CPU seconds spent by each process
tree (web, worker, beat, emulator, database, generator) from /proc/<pid>/stat before and after
(the trees' reaped children included), as shares of the machine. After the run: every webhook
stored exactly once, and every reply sent to the emulator (no reply lost or stuck).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from bench import pg as bench_pg
from bench import webhook_load
from bench.faults import infra
from bench.pgbouncer import PgBouncer
from bench.pgbouncer import version as pgbouncer_version

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = "desk_http_bench"
APP_SECRET = "http-bench-app-secret"  # noqa: S105 - a loopback-only benchmark
TOKEN = "http-bench-token"  # noqa: S105
PASSWORD = "http-bench-Agent-pass-1"  # noqa: S105
FIELD_ENCRYPTION_KEY = "aHR0cC1iZW5jaC1sb29wYmFjay1vbmx5LWtleS0zMiE="
CHANNELS = 40
OPEN_PER_CHANNEL = 12  # 480 open: the emulator learns the 500 most recent chats
RESOLVED_PER_CHANNEL = 40
ENDPOINTS = ["login", "inbox", "conversation", "reply", "webhook"]

SETUP = """
import json, os, random
from datetime import timedelta
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.utils import timezone
from channels_app.access import Role
from channels_app.models import AccessGrant, Channel
from conversations.models import Contact, Conversation, Message

spec = json.loads(os.environ["HTTP_BENCH_SPEC"])
now = timezone.now()
rng = random.Random(7)
channels = [
    Channel.objects.create(
        phone_number_id=f"httpb{k:02d}", display_name=f"HTTP bench {k:02d}",
        waba_id=f"20445566{k:02d}", display_phone_number=f"+1 555-020-{k:04d}",
        verified_name="HTTP bench", access_token=spec["token"])
    for k in range(spec["channels"])
]
password = make_password(spec["password"])
User = get_user_model()
users = User.objects.bulk_create(
    User(username=f"httpagent{i:03d}", first_name="Agent", last_name=f"{i:03d}",
         password=password, is_active=True)
    for i in range(spec["agents"])
)
AccessGrant.objects.bulk_create(
    AccessGrant(channel=channels[i % len(channels)], user=u, role=Role.CONTRIBUTOR)
    for i, u in enumerate(users)
)
per = spec["open"] + spec["resolved"]
contacts = Contact.objects.bulk_create(
    Contact(kind="whatsapp", wa_id=str(spec["wa_base"] + n), profile_name=f"Customer {n}",
            phone=f"+{spec['wa_base'] + n}")
    for n in range(len(channels) * per)
)
conversations = []
for k, channel in enumerate(channels):
    for j in range(per):
        contact = contacts[k * per + j]
        is_open = j < spec["open"]
        last = now - timedelta(minutes=rng.randint(5, 600) if is_open else rng.randint(700, 5000))
        conversations.append(Conversation(
            channel=channel, contact=contact,
            status=("new" if j % 3 else "pending") if is_open else "resolved",
            opened_at=last - timedelta(hours=1), last_customer_message_at=last,
            last_activity_at=last, resolved_at=None if is_open else last,
            resolution="" if is_open else "agent",
            last_message_preview="Where is my order?"))
conversations = Conversation.objects.bulk_create(conversations)
messages = []
for c in conversations:
    for m in range(4):
        inbound = m % 2 == 0
        at = c.last_activity_at - timedelta(minutes=(3 - m) * 7)
        messages.append(Message(
            conversation=c, channel_id=c.channel_id, direction="in" if inbound else "out",
            type="text", body=("Where is my order %d?" if inbound else "Let me check %d.") % m,
            provider_message_id=f"wamid.seed.{c.pk}.{m}",
            delivery="received" if inbound else "read", created_at=at, sent_at=at))
Message.objects.bulk_create(messages, batch_size=2000)
print(json.dumps({
    "channels": {ch.phone_number_id: ch.pk for ch in channels},
    "agents": [[u.username, channels[i % len(channels)].pk] for i, u in enumerate(users)],
    "open": [[c.pk, c.channel_id, c.contact.wa_id] for c in conversations
             if c.status != "resolved"],
}))
"""


def _log(message: str) -> None:
    print(f"[bench.http_load] {message}", file=sys.stderr, flush=True)


# --- the stack ---------------------------------------------------------------------------------


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def fresh_database(url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    if "bench" not in name:
        raise SystemExit(f"http_load: refusing database {name!r}: its name must contain 'bench'")
    with psycopg.connect(
        webhook_load._dsn(_with_db(url, "postgres")), autocommit=True, connect_timeout=5
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def stack_env(
    database_url: str, *, web_port: int, emulator_port: int, redis_url: str, home: Path,
    pooling: bool,
) -> dict[str, str]:  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST", "CELERY"))}
    env.update(
        PATH=f"{infra.BIN}:{env.get('PATH', '/usr/bin:/bin')}",
        PYTHONUNBUFFERED="1",
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=database_url,
        DATABASE_TRANSACTION_POOLING="1" if pooling else "0",
        REDIS_URL=redis_url,
        DEBUG="0",
        SECRET_KEY="http-bench-" + secrets.token_urlsafe(40),
        FIELD_ENCRYPTION_KEYS=FIELD_ENCRYPTION_KEY,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="0",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
        SECURE_HSTS_SECONDS="0",
        BIND=f"127.0.0.1:{web_port}",
        WEB_CONCURRENCY=os.environ.get("WEB_CONCURRENCY", "2"),
        CELERY_CONCURRENCY=os.environ.get("CELERY_CONCURRENCY", "2"),
        WHATSAPP_GRAPH_URL=f"http://127.0.0.1:{emulator_port}/v23.0",
        WHATSAPP_APP_SECRET=APP_SECRET,
        WHATSAPP_EMULATOR_WEBHOOK_URL=f"http://127.0.0.1:{web_port}/webhooks/whatsapp/",
        MEDIA_ROOT=str(home / "media"),
        CELERY_BEAT_SCHEDULE_FILENAME=str(home / "celerybeat-schedule"),
        LOG_LEVEL="WARNING",
    )
    return env


# --- CPU of process trees ----------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _parents() -> dict[int, list[int]]:
    children: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").glob("[0-9]*"):
        fields = _stat(int(entry.name))
        if fields:
            children[int(fields[1])].append(int(entry.name))
    return children


def tree_cpu(root: int, children: dict[int, list[int]]) -> float:
    """CPU seconds of ``root`` and every live descendant, plus the descendants they reaped
    (utime + stime + cutime + cstime of each live process)."""
    tick = os.sysconf("SC_CLK_TCK")
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        fields = _stat(pid)
        if fields:
            total += sum(int(v) for v in fields[11:15])
        stack.extend(children.get(pid, []))
    return total / tick


def cpu_snapshot(roots: dict[str, int]) -> dict[str, float]:
    children = _parents()
    snap = {name: tree_cpu(pid, children) for name, pid in roots.items()}
    busy, total = webhook_load._machine_busy()
    snap["_busy"], snap["_total"] = (
        busy / os.sysconf("SC_CLK_TCK"),
        total / os.sysconf("SC_CLK_TCK"),
    )
    return snap


# --- the run -----------------------------------------------------------------------------------


def _webhook_bodies(port: int, setup: dict, count: int, tag: str) -> list[str]:
    rng = random.Random(11)
    pnids = list(setup["channels"])
    by_id = {v: k for k, v in setup["channels"].items()}
    customers = [(wa_id, by_id[channel]) for _, channel, wa_id in setup["open"]]
    now = int(time.time())
    out = []
    for i in range(count):
        if rng.random() < 0.15:
            wa_id, pnid = str(497000000000 + i), rng.choice(pnids)
        else:
            wa_id, pnid = rng.choice(customers)
        m = {"wamid": f"wamid.{tag}.{i:07d}", "wa_id": wa_id, "pnid": pnid,
             "name": f"Customer {wa_id[-4:]}", "ts": now - rng.randint(0, 30),
             "text": f"Any news about order {rng.randint(1000, 99999)}?"}  # fmt: skip
        out.append(webhook_load.signed_request(m, port=port, secret=APP_SECRET).decode("latin-1"))
    return out


def _percentiles(values: list[float]) -> dict:
    ordered = sorted(values)
    return {
        "count": len(ordered),
        "p50_ms": round(webhook_load._percentile(ordered, 50) * 1000, 1),
        "p95_ms": round(webhook_load._percentile(ordered, 95) * 1000, 1),
        "p99_ms": round(webhook_load._percentile(ordered, 99) * 1000, 1),
        "max_ms": round((ordered[-1] if ordered else 0.0) * 1000, 1),
    }


def _wait_replies_sent(database_url: str, bodies_like: str, expected: int, timeout: float) -> dict:
    """Until every stored reply is sent or failed (``expected``: the replies the agents saw
    accepted; a reply whose answer timed out on the client may still be stored, and counts)."""
    deadline = time.monotonic() + timeout
    sql = """SELECT count(*), count(*) FILTER (WHERE provider_message_id IS NOT NULL
                                                AND delivery NOT IN ('queued', 'failed')),
                    count(*) FILTER (WHERE delivery = 'failed')
             FROM conversations_message WHERE direction = 'out' AND body LIKE %s"""
    while True:
        with psycopg.connect(webhook_load._dsn(database_url)) as conn:
            stored, sent, failed = conn.execute(sql, [bodies_like]).fetchone()
        if (sent + failed >= max(expected, stored)) or time.monotonic() > deadline:
            return {"stored": stored, "sent": sent, "failed": failed, "expected": expected}
        time.sleep(1)


def run(
    database_url: str | None = None,
    *,
    agents: int = 200,
    webhook_rate: float = 100,
    duration: float = 90,
    ramp: float | None = None,
    pgbouncer: bool = False,
) -> dict:
    """Start the stack, seed, run the generator, check, stop; the summary dict."""
    if database_url is None:
        database_url = bench_pg.start(DEFAULT_DB)
    else:
        database_url = _with_db(database_url, DEFAULT_DB)
    # Each login costs a PBKDF2 check (~0.5 CPU-s on this VM): spread them at ~2 per second.
    ramp = ramp if ramp is not None else max(10.0, agents / 2)
    home = Path(tempfile.mkdtemp(prefix="desk-http-bench-"))
    redis = infra.Redis(port=infra.free_port(), home=home)
    web_port, emulator_port = infra.free_port(), infra.free_port()
    bouncer = (
        PgBouncer(server_port=urlsplit(database_url).port or 5432, session_databases=(DEFAULT_DB,))
        if pgbouncer
        else None
    )
    procs: infra.Processes | None = None
    _log(f"fresh database {urlsplit(database_url).path.lstrip('/')}, migrate, seed")
    fresh_database(database_url)
    try:
        redis.start()
        server_url = database_url
        if bouncer:
            bouncer.start()
            server_url = bouncer.url(DEFAULT_DB)
        env = stack_env(
            server_url, web_port=web_port, emulator_port=emulator_port, redis_url=redis.url,
            home=home, pooling=pgbouncer,
        )  # fmt: skip
        direct_env = {**env, "DATABASE_URL": database_url}
        python = str(infra.BIN / "python")
        subprocess.run(
            [python, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=direct_env,
            check=True,
        )  # fmt: skip
        # As a deployment does (README, step 3): production settings serve the hashed names of
        # the manifest, so a static file added since the last collectstatic would fail a page.
        subprocess.run(
            [python, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT,
            env=direct_env, check=True,
        )  # fmt: skip
        spec_setup = {"channels": CHANNELS, "agents": agents, "open": OPEN_PER_CHANNEL,
                      "resolved": RESOLVED_PER_CHANNEL, "token": TOKEN, "password": PASSWORD,
                      "wa_base": 496000000000}  # fmt: skip
        proc = subprocess.run(
            [python, "manage.py", "shell", "-c", SETUP],
            cwd=ROOT,
            env={**direct_env, "HTTP_BENCH_SPEC": json.dumps(spec_setup)},
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode:
            raise SystemExit(f"http_load: seeding failed:\n{proc.stderr[-3000:]}")
        setup = json.loads(proc.stdout.strip().splitlines()[-1])
        procs = infra.Processes(env=env, logs=home / "logs")
        if bouncer:  # web in transaction mode; worker and beat in session mode (README)
            session = {
                **direct_env,
                "DATABASE_URL": bouncer.url(DEFAULT_DB, session=True),
                "DATABASE_TRANSACTION_POOLING": "0",
            }
            procs.envs = {"worker": session, "beat": session}
        for name in infra.procfile():
            procs.start(name)
        procs.start(
            "emulator",
            [python, "manage.py", "whatsapp_emulator", "--port", str(emulator_port),
             "--seed-from-db", "--status-delay", "0.5"],
        )  # fmt: skip
        for port in (web_port, emulator_port):
            if not infra.wait_port(port, timeout=120):
                raise SystemExit(f"http_load: nothing listening on {port}; see {home}/logs")
        tag = f"h{int(time.time())}"
        bodies = _webhook_bodies(web_port, setup, int(webhook_rate * duration) + 10, tag)
        (home / "webhooks.json").write_text(json.dumps(bodies))
        spec = {"port": web_port, "password": PASSWORD, "agents": setup["agents"],
                "open": setup["open"], "webhooks": str(home / "webhooks.json"),
                "webhook_rate": webhook_rate, "duration_s": duration, "ramp_s": ramp,
                "window_flag": str(home / "window-open")}  # fmt: skip
        (home / "spec.json").write_text(json.dumps(spec))
        postmaster = webhook_load._postmaster_pid(database_url)
        roots = {name: p.pid for name, p in procs.running.items()}
        if postmaster:
            roots["database"] = postmaster
        if bouncer and bouncer.process:
            roots["pgbouncer"] = bouncer.process.pid
        _log(f"{agents} agents log in over {ramp:.0f} s, then {duration:.0f} s measured")
        generator = subprocess.Popen(
            [sys.executable, "-m", "bench.http_agents", str(home / "spec.json")],
            cwd=ROOT, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        # The CPU window is the measured window: it opens once every agent has logged in.
        deadline = time.monotonic() + ramp + 900
        while not (home / "window-open").exists():
            if generator.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("http_load: the agents' logins did not finish")
            time.sleep(0.05)
        roots["generator"] = generator.pid
        before = cpu_snapshot(roots)
        time.sleep(duration)
        after = cpu_snapshot(roots)
        out, _ = generator.communicate(timeout=300)
        if generator.returncode:
            raise SystemExit(f"http_load: the generator exited with {generator.returncode}")
        result = json.loads(out)
        replies = _wait_replies_sent(
            database_url, "httpagent% reply %", len(result["replies"]), timeout=60
        )
        dead = procs.dead()
        stored = webhook_load.check_stored(database_url, f"wamid.{tag}.%")
    finally:
        if procs:
            procs.stop_all()
        if bouncer:
            bouncer.stop()
        redis.stop()
        with contextlib.suppress(OSError):
            keep = Path(infra.VAR).parent / "http-bench-logs"
            shutil.rmtree(keep, ignore_errors=True)
            if (home / "logs").exists():
                shutil.copytree(home / "logs", keep)
        shutil.rmtree(home, ignore_errors=True)
    return summarize(result, before, after, replies, stored, dead, agents=agents,
                     webhook_rate=webhook_rate, duration=duration, ramp=ramp,
                     pgbouncer=pgbouncer)  # fmt: skip


def summarize(result, before, after, replies, stored, dead, **params) -> dict:
    endpoints = {e: _percentiles(result["latencies"].get(e, [])) for e in ENDPOINTS}
    for e in ENDPOINTS:
        errors = result["errors"].get(e, [])
        endpoints[e]["errors"] = len(errors)
        endpoints[e]["error_kinds"] = sorted(set(errors))[:5]
        endpoints[e]["rps"] = round(endpoints[e]["count"] / params["duration"], 1)
    window = after["_total"] - before["_total"]
    cpus = os.cpu_count() or 1
    cpu = {
        name: round(after[name] - before.get(name, 0.0), 1)
        for name in after
        if not name.startswith("_")
    }
    shares = {name: round(seconds / window, 3) if window else 0.0 for name, seconds in cpu.items()}
    machine_busy = (after["_busy"] - before["_busy"]) / window if window else 0.0
    webhook = stored
    exactly_once = (
        webhook["duplicates"] == 0
        and webhook["stored"] == result["webhooks"]["answered_ok"]
        and webhook["stale_conversations"] == 0
    )
    errors = sum(endpoints[e]["errors"] for e in ENDPOINTS)
    replies_ok = (
        replies["sent"] == replies["stored"] >= replies["expected"] and replies["failed"] == 0
    )
    return {
        "name": "http",
        **params,
        "pgbouncer": pgbouncer_version() if params.get("pgbouncer") else "",
        "endpoints": endpoints,
        "errors": errors,
        "webhooks_sent": result["webhooks"]["sent"],
        "webhooks_stored": webhook["stored"],
        "webhook_duplicates": webhook["duplicates"],
        "exactly_once": exactly_once,
        "replies": replies,
        "processes_died": dead,
        "cpu_seconds": cpu,
        # Share of the whole machine (all CPUs) during the measured window.
        "cpu_share_of_machine": shares,
        "machine_busy": round(machine_busy, 3),
        "cpus": cpus,
        "load_before": os.getloadavg()[0],
        "generator_cpu_s": round(result["generator_cpu_s"], 1),
        "correct": errors == 0 and exactly_once and replies_ok and not dead,
    }


def report(r: dict) -> str:
    via = f" through {r['pgbouncer']}" if r.get("pgbouncer") else ""
    lines = [
        f"{r['agents']} agents (logins over {r['ramp']:.0f} s) + webhooks at "
        f"{r['webhook_rate']:g}/s, {r['duration']:.0f} s measured, Procfile processes{via}",
        "| endpoint | requests | req/s | p50 | p95 | p99 | max | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, e in r["endpoints"].items():
        lines.append(
            f"| {name} | {e['count']} | {e['rps']} | {e['p50_ms']} ms | {e['p95_ms']} ms | "
            f"{e['p99_ms']} ms | {e['max_ms']} ms | {e['errors']} {' '.join(e['error_kinds'])} |"
        )
    shares = ", ".join(
        f"{name} {share:.0%}" for name, share in sorted(r["cpu_share_of_machine"].items())
    )
    lines.append(
        f"CPU (share of {r['cpus']} CPUs over the window): {shares}; machine busy "
        f"{r['machine_busy']:.0%}"
    )
    lines.append(
        f"webhooks sent {r['webhooks_sent']}, stored {r['webhooks_stored']}, duplicates "
        f"{r['webhook_duplicates']}; replies {r['replies']['expected']} accepted, "
        f"{r['replies']['stored']} stored, {r['replies']['sent']} sent, "
        f"{r['replies']['failed']} failed; "
        f"processes died: {r['processes_died'] or 'none'}; correct: {r['correct']}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.http_load", description=__doc__)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--webhook-rate", type=float, default=100)
    parser.add_argument("--duration", type=float, default=90, help="measured seconds")
    parser.add_argument("--ramp", type=float, default=None, help="seconds for the logins")
    parser.add_argument("--quick", action="store_true", help="20 agents, 20 s: a smoke run")
    parser.add_argument("--pgbouncer", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.agents, args.duration = min(args.agents, 20), min(args.duration, 20)
    result = run(
        args.database_url, agents=args.agents, webhook_rate=args.webhook_rate,
        duration=args.duration, ramp=args.ramp, pgbouncer=args.pgbouncer,
    )  # fmt: skip
    print(json.dumps(result, indent=2) if args.json else report(result))
    return 0 if result["correct"] else 1


if __name__ == "__main__":
    sys.exit(main())
