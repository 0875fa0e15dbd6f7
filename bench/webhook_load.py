"""Load the signed WhatsApp webhook under gunicorn on loopback, against a raw-SQL floor.

    .venv/bin/python -m bench.webhook_load [--database-url URL] [--rate 200] [--duration 20]
        [--concurrency 8] [--worker-class sync] [--json]

Without --database-url (or DATABASE_URL) it uses the throwaway tuned cluster of bench/pg.py,
database ``desk_webhook_bench``. The database name must contain "bench": seeding truncates the
desk's conversation tables.

Steps:

1. **Database**: migrate, then seed 4 channels, 2,000 contacts with an open conversation (80 % New,
   20 % Pending) and 200 contacts whose only conversation is Resolved.
2. **Server**: gunicorn exactly as the Procfile's ``web`` line (``config/gunicorn.py``: 2 sync
   workers, access log, 30 s timeout) with production settings (DEBUG off, a SECRET_KEY,
   ALLOWED_HOSTS
   127.0.0.1, the Redis broker), on a free loopback port. Only ``SECURE_SSL_REDIRECT`` is off: on
   loopback there is no TLS proxy to set ``X-Forwarded-Proto``.
3. **Bodies**: one text message per request, Meta's shape (tests/fixtures/whatsapp/text_reply.json),
   unique wamids, signed with HMAC-SHA256 (``X-Hub-Signature-256``) in advance, so the generator
   only writes bytes. 85 % go to contacts with an open conversation, 5 % to contacts whose
   conversation is resolved (a new one opens), 10 % come from new numbers (contact and
   conversation created).
4. **Open loop** (latency): a separate generator process (asyncio, one connection per request as
   a proxy talks to sync gunicorn) starts request *i* at ``t0 + i / rate`` whatever happened to the
   earlier ones; latency counts from that scheduled instant, so a stalled server is not hidden
   (no coordinated omission).
5. **Saturation** (throughput): the same generator, closed loop with ``concurrency`` connections.
6. **Check**: every request answered 200 ``{"messages": 1}`` stored exactly one row (count by the
   run's wamid prefix) and every touched conversation's last activity is at least its newest
   message's.
7. **Floor**: the same reads and writes as hand-written SQL through psycopg (contact lookup or
   insert, open conversation locked or inserted with its ``opened`` event, message insert,
   ``status_changed`` event for a Pending one, conversation update, one transaction per message)
   by ``concurrency`` processes, each with its own connection, for the same duration.

Targets (issues #8 and #20): p50 <= 50 ms and p99 <= 250 ms at 200 requests/s, saturation
throughput at least 40 % of the floor's. Also reported: the CPU per request of gunicorn, of
PostgreSQL and of this database's backends alone, the floor's CPU per message (its clients and
their backends), and the 1-minute load average before each phase (the machine is shared).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import multiprocessing
import os
import pickle
import random
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from bench.pgbouncer import PgBouncer
from bench.pgbouncer import version as pgbouncer_version
from bench.seed import insert_channels

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DB = "desk_webhook_bench"
APP_SECRET = "bench-webhook-app-secret"  # noqa: S105 - a loopback-only benchmark server
VERIFY_TOKEN = "bench-verify-token"  # noqa: S105
FIELD_ENCRYPTION_KEY = "d2ViaG9vay1iZW5jaC1sb29wYmFjay1vbmx5LWstMzI="
REDIS_URL = "redis://127.0.0.1:6379/4"
PATH = "/webhooks/whatsapp/"

CHANNELS = 4
OPEN_CONTACTS = 2000
RESOLVED_CONTACTS = 200
OPEN_WA_BASE = 491700000000
RESOLVED_WA_BASE = 491800000000
NEW_WA_BASE = 491900000000
SHARE_RESOLVED = 0.05
SHARE_NEW = 0.10

TARGET_P50_MS = 50.0
TARGET_P99_MS = 250.0
TARGET_RATIO = 0.40  # issue 20 item 3 (issue 8 asked 30 %)
# The saturation generator can never need more bodies than this many per second.
MAX_SATURATION_RPS = 1500


# --- database --------------------------------------------------------------------------------


def _dsn(database_url: str) -> str:
    return database_url.replace("postgres://", "postgresql://", 1)


def _check_name(database_url: str) -> None:
    name = urlsplit(database_url).path.lstrip("/")
    if "bench" not in name:
        raise SystemExit(f"webhook_load: refusing database {name!r}: its name must contain 'bench'")


def migrate(database_url: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--verbosity", "0"],
        cwd=BASE_DIR,
        env={**os.environ, "DATABASE_URL": database_url},
        check=True,
    )


def seed_channels(conn) -> list[int]:
    """The CHANNELS channels whose phone_number_ids (benchwh1..) the webhook payloads name."""
    with conn.cursor() as cursor:
        return insert_channels(
            cursor, CHANNELS, name_prefix="Webhook bench ", phone_prefix="benchwh",
            now=datetime.now(UTC), waba_id=lambda g: f"1044556677{g}",
            display_phone_number=lambda g: f"+1 555 010 {g}",
        )  # fmt: skip


SEED_SQL = [
    # Every table of the conversations app (whatever migrations added), children included.
    """DO $$ BEGIN
         EXECUTE (SELECT 'TRUNCATE ' || string_agg(quote_ident(tablename), ', ')
                         || ' RESTART IDENTITY CASCADE'
                  FROM pg_tables
                  WHERE schemaname = 'public' AND tablename LIKE 'conversations\\_%%'
                    -- emptied by conversations_message's TRUNCATE trigger (migration 0017):
                    -- naming it here too fails ("being used by active queries")
                    AND tablename <> 'conversations_messagekey');
       END $$""",
    "DELETE FROM channels_app_channel WHERE phone_number_id LIKE 'benchwh%%'",
    seed_channels,  # a step of Python: the channels the generated webhooks are addressed to
    """INSERT INTO conversations_contact (kind, wa_id, profile_name, phone, created_at)
       SELECT 'whatsapp', (%(open_base)s + g)::text, 'Customer ' || g,
              '+' || (%(open_base)s + g)::text, now()
       FROM generate_series(1, %(open)s) g
       UNION ALL
       SELECT 'whatsapp', (%(resolved_base)s + g)::text, 'Returning ' || g,
              '+' || (%(resolved_base)s + g)::text, now()
       FROM generate_series(1, %(resolved)s) g""",
    # Contact k: channel k % CHANNELS; every fifth open one Pending; the returning ones Resolved.
    """INSERT INTO conversations_conversation (
           channel_id, contact_id, status, opened_at, last_customer_message_at,
           last_activity_at, resolved_at, resolution, last_message_preview)
       SELECT ch.ids[1 + co.rn %% %(channels)s], co.id,
              CASE WHEN co.wa_id::bigint > %(resolved_base)s THEN 'resolved'
                   WHEN co.rn %% 5 = 0 THEN 'pending' ELSE 'new' END,
              now() - interval '2 hours', now() - interval '2 hours', now() - interval '1 hour',
              CASE WHEN co.wa_id::bigint > %(resolved_base)s THEN now() - interval '1 hour' END,
              CASE WHEN co.wa_id::bigint > %(resolved_base)s THEN 'agent' ELSE '' END,
              'Hello, I have a question about my order'
       FROM (SELECT id, wa_id, row_number() OVER (ORDER BY id) AS rn
             FROM conversations_contact
             -- this run's contacts only: in grown mode the table also holds the history's
             -- (a conversation for each of those put 2M rows on the benchwh channels at 10M)
             WHERE kind = 'whatsapp'
               AND CASE WHEN wa_id ~ '^[0-9]{1,18}$' THEN
                        wa_id::bigint BETWEEN %(open_base)s + 1 AND %(open_base)s + %(open)s
                        OR wa_id::bigint BETWEEN %(resolved_base)s + 1
                                             AND %(resolved_base)s + %(resolved)s
                   END) co
       CROSS JOIN (SELECT array_agg(id ORDER BY id) AS ids FROM channels_app_channel
                   WHERE phone_number_id LIKE 'benchwh%%') ch""",
    "ANALYZE",
]


# Grown mode (``keep_history``): the run goes into a database that holds a large history (the
# pages dataset of bench.dataset, bench.scale), so instead of truncating the conversation tables
# only an earlier run's own rows are removed: everything of the 'benchwh' channels and the
# contacts of the three number ranges, children first (every table that references them, as the
# catalog says, partitions through their parent).
_REFERENCING_SQL = """
SELECT DISTINCT c.conrelid::regclass::text, a.attname
FROM pg_constraint c
JOIN pg_class t ON t.oid = c.conrelid AND NOT t.relispartition
JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
WHERE c.contype = 'f' AND c.confrelid = %s::regclass AND c.conrelid <> %s::regclass"""
_RUN_CONTACTS = (
    "SELECT id FROM conversations_contact WHERE kind = 'whatsapp' AND (wa_id LIKE %(open)s"
    " OR wa_id LIKE %(resolved)s OR wa_id LIKE %(new)s)"
)


def forget_run_rows(conn) -> None:
    """Delete an earlier run's rows and nothing else (grown mode).

    Children go first, so the foreign-key checks are skipped (``session_replication_role``,
    as bench.dataset loads): each deleted conversation would otherwise be looked up in every
    monthly partition of messages and events (minutes for a few thousand rows)."""
    conn.execute("SET session_replication_role = replica")
    prefixes = {
        "open": f"{str(OPEN_WA_BASE)[:4]}%",
        "resolved": f"{str(RESOLVED_WA_BASE)[:4]}%",
        "new": f"{str(NEW_WA_BASE)[:4]}%",
    }
    conn.execute(f"CREATE TEMP TABLE run_channels AS {_RUN_CHANNELS}")
    conn.execute(f"CREATE TEMP TABLE run_contacts AS {_RUN_CONTACTS}", prefixes)
    conn.execute(
        "CREATE TEMP TABLE run_conversations AS SELECT id FROM conversations_conversation"
        " WHERE channel_id IN (SELECT id FROM run_channels)"
        " OR contact_id IN (SELECT id FROM run_contacts)"
    )
    conn.execute(
        "DELETE FROM conversations_messagekey WHERE channel_id IN (SELECT id FROM run_channels)"
    )
    for parent, ids in (
        ("conversations_conversation", "run_conversations"),
        ("conversations_contact", "run_contacts"),
        ("channels_app_channel", "run_channels"),
    ):
        for table, column in conn.execute(_REFERENCING_SQL, (parent, parent)).fetchall():
            conn.execute(f'DELETE FROM {table} WHERE "{column}" IN (SELECT id FROM {ids})')
        conn.execute(f"DELETE FROM {parent} WHERE id IN (SELECT id FROM {ids})")
    conn.execute("DROP TABLE run_channels, run_contacts, run_conversations")
    conn.execute("SET session_replication_role = DEFAULT")


def seed(database_url: str, *, keep_history: bool = False) -> None:
    """Reset the conversation tables to the benchmark's starting population (``keep_history``:
    remove only an earlier run's rows, see forget_run_rows)."""
    import psycopg

    params = {
        "channels": CHANNELS,
        "open": OPEN_CONTACTS,
        "resolved": RESOLVED_CONTACTS,
        "open_base": OPEN_WA_BASE,
        "resolved_base": RESOLVED_WA_BASE,
    }
    with psycopg.connect(_dsn(database_url), autocommit=True) as conn:
        statements = SEED_SQL
        if keep_history:
            forget_run_rows(conn)
            statements = [
                *(sql for sql in SEED_SQL[1:] if sql != "ANALYZE"),
                "ANALYZE conversations_contact",
                "ANALYZE conversations_conversation",
            ]
        for sql in statements:
            if callable(sql):
                sql(conn)
            else:
                conn.execute(sql, params if "%(" in sql or "%%" in sql else None)


def _sender_channels(database_url: str) -> dict[str, str]:
    """wa_id of every seeded contact -> the phone_number_id of its conversation's channel."""
    import psycopg

    with psycopg.connect(_dsn(database_url)) as conn:
        rows = conn.execute(
            """SELECT co.wa_id, ch.phone_number_id
               FROM conversations_conversation c
               JOIN conversations_contact co ON co.id = c.contact_id
               JOIN channels_app_channel ch ON ch.id = c.channel_id
               WHERE ch.phone_number_id LIKE 'benchwh%%'"""
        ).fetchall()
    return dict(rows)


# --- bodies ----------------------------------------------------------------------------------


def _messages(prefix: str, count: int, senders: dict[str, str], seed_: int) -> list[dict]:
    """``count`` inbound text messages with the benchmark's sender mix; wamids start with prefix."""
    rng = random.Random(seed_)
    open_ids = [str(OPEN_WA_BASE + g) for g in range(1, OPEN_CONTACTS + 1)]
    resolved_ids = [str(RESOLVED_WA_BASE + g) for g in range(1, RESOLVED_CONTACTS + 1)]
    numbers = [f"benchwh{g}" for g in range(1, CHANNELS + 1)]
    new_base = NEW_WA_BASE + seed_ * 10_000_000
    now = int(time.time())
    out = []
    for i in range(count):
        roll = rng.random()
        if roll < SHARE_NEW:
            wa_id = str(new_base + i)
            pnid = rng.choice(numbers)
        else:
            wa_id = rng.choice(resolved_ids if roll < SHARE_NEW + SHARE_RESOLVED else open_ids)
            pnid = senders[wa_id]
        out.append(
            {
                "wamid": f"wamid.{prefix}.{i:07d}",
                "wa_id": wa_id,
                "pnid": pnid,
                "name": f"Customer {wa_id[-4:]}",
                "ts": now - rng.randint(0, 60),
                "text": f"Is my order {rng.randint(1000, 99999)} shipped yet?",
            }
        )
    return out


def _body(m: dict) -> bytes:
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "104455667788990",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550100234",
                                "phone_number_id": m["pnid"],
                            },
                            "contacts": [{"profile": {"name": m["name"]}, "wa_id": m["wa_id"]}],
                            "messages": [
                                {
                                    "from": m["wa_id"],
                                    "id": m["wamid"],
                                    "timestamp": str(m["ts"]),
                                    "type": "text",
                                    "text": {"body": m["text"]},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    return json.dumps(payload).encode()


def signed_request(m: dict, *, port: int, secret: str = APP_SECRET) -> bytes:
    """The complete HTTP/1.1 request bytes for one message, signed like Meta signs it."""
    body = _body(m)
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    head = (
        f"POST {PATH} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "User-Agent: facebookexternalua\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Hub-Signature-256: {signature}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


# --- server ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(database_url: str, *, pooling: bool = False) -> dict[str, str]:
    """Production settings (config/settings.py), except the TLS redirect loopback cannot use;
    ``pooling``: behind PgBouncer in transaction mode (DATABASE_TRANSACTION_POOLING)."""
    return {
        "DATABASE_TRANSACTION_POOLING": "1" if pooling else "0",
        **os.environ,
        "DATABASE_URL": database_url,
        "DEBUG": "0",
        "SECRET_KEY": "webhook-bench-" + hashlib.sha256(os.urandom(32)).hexdigest(),
        "FIELD_ENCRYPTION_KEYS": FIELD_ENCRYPTION_KEY,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "REDIS_URL": REDIS_URL,
        "WHATSAPP_APP_SECRET": APP_SECRET,
        "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def start_server(
    database_url: str,
    *,
    port: int,
    workers: int,
    worker_class: str,
    threads: int,
    log: Path,
    pooling: bool = False,
) -> subprocess.Popen:
    """gunicorn as the Procfile's web line runs it; returns once a worker answers."""
    # The Procfile's line (its settings file), with the size and port of this run.
    argv = [
        sys.executable, "-m", "gunicorn", "config.wsgi",
        "-c", "config/gunicorn.py",
        "--workers", str(workers),
        "--bind", f"127.0.0.1:{port}",
        "--worker-class", worker_class,
    ]  # fmt: skip
    if worker_class == "gthread":
        argv += ["--threads", str(threads)]
    handle = log.open("wb")
    proc = subprocess.Popen(
        argv,
        cwd=BASE_DIR,
        env=server_env(database_url, pooling=pooling),
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    url = (
        f"http://127.0.0.1:{port}{PATH}?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}"
        "&hub.challenge=ready"
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("webhook_load: gunicorn exited:\n" + log.read_text()[-3000:])
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.read() == b"ready":
                    return proc
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit("webhook_load: gunicorn did not answer within 60 s:\n" + log.read_text())


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _children(pid: int) -> list[int]:
    """``pid`` and its direct children, from /proc."""
    pids = [pid]
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            pids.append(int(stat.parent.name))
    return pids


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far (exited ones count as 0)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / tick


def _postmaster_pid(database_url: str) -> int | None:
    """The PostgreSQL server's pid when it runs on this machine (for its CPU), else None."""
    import psycopg

    with psycopg.connect(_dsn(database_url)) as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        try:  # while the backend lives: once the connection closes its /proc entry may be gone
            fields = Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
    return int(fields[1])


def _backends_of(postmaster: int | None, database: str) -> list[int]:
    """The PostgreSQL backends connected to ``database`` (their process title names it): the
    CPU they use is this run's, whatever else the cluster serves meanwhile."""
    pids = []
    for pid in _children(postmaster)[1:] if postmaster else []:
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if f" {database} " in title:
            pids.append(pid)
    return pids


def _loadavg() -> float:
    """The machine's 1-minute load average."""
    return float(Path("/proc/loadavg").read_text().split()[0])


def _forget_announcements() -> None:
    """Remove the announcements the run queued for a worker (none runs here) from the bench's
    Redis database (conversations/announce_queue.py names the keys)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    with contextlib.suppress(redis.RedisError):
        client.delete("desk:announcements", "desk:announcements:drain-queued")


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


# --- load generator (runs in its own process: `--generate SPEC`) ------------------------------


async def _request(port: int, data: bytes) -> tuple[int, bool]:
    """Send one request on a fresh connection; (status, stored one message)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        response = await reader.read()
    finally:
        writer.close()
    status = int(response[9:12]) if response[:5] == b"HTTP/" else 0
    return status, b'{"messages": 1}' in response


async def _open_loop(port: int, requests: list[bytes], rate: float) -> dict:
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    statuses: Counter = Counter()
    stored = 0
    lag = 0.0

    async def one(data: bytes, at: float) -> None:
        nonlocal stored
        try:
            status, ok = await asyncio.wait_for(_request(port, data), timeout=60)
        except (OSError, TimeoutError) as exc:
            statuses[type(exc).__name__] += 1
            return
        # From the scheduled start: time spent waiting behind a slow request counts.
        latencies.append(loop.time() - at)
        statuses[str(status)] += 1
        stored += ok

    tasks = []
    t0 = loop.time() + 0.1
    for i, data in enumerate(requests):
        at = t0 + i / rate
        delay = at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            lag = max(lag, -delay)
        tasks.append(asyncio.create_task(one(data, at)))
    await asyncio.gather(*tasks)
    return {
        "sent": len(requests),
        "elapsed_s": loop.time() - t0,
        "latencies": latencies,
        "statuses": dict(statuses),
        "ok": stored,
        "max_start_lag_ms": lag * 1000,
    }


async def _closed_loop(port: int, requests: list[bytes], concurrency: int, duration: float) -> dict:
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    statuses: Counter = Counter()
    stored = 0
    sent = 0
    t0 = loop.time()
    stop_at = t0 + duration

    async def client() -> None:
        nonlocal stored, sent
        while loop.time() < stop_at and sent < len(requests):
            data = requests[sent]
            sent += 1
            start = loop.time()
            try:
                status, ok = await asyncio.wait_for(_request(port, data), timeout=60)
            except (OSError, TimeoutError) as exc:
                statuses[type(exc).__name__] += 1
                continue
            latencies.append(loop.time() - start)
            statuses[str(status)] += 1
            stored += ok

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return {
        "sent": sent,
        "elapsed_s": loop.time() - t0,
        "latencies": latencies,
        "statuses": dict(statuses),
        "ok": stored,
        "exhausted": sent >= len(requests),
    }


def _generate(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    with open(spec["requests"], "rb") as handle:
        requests = pickle.load(handle)  # noqa: S301 - our own file, written a moment ago
    if spec["mode"] == "open":
        result = asyncio.run(_open_loop(spec["port"], requests, spec["rate"]))
    else:
        result = asyncio.run(
            _closed_loop(spec["port"], requests, spec["concurrency"], spec["duration"])
        )
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["generator_cpu_s"] = usage.ru_utime + usage.ru_stime
    sys.stdout.write(json.dumps(result))


def _percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def generate(
    *,
    mode: str,
    port: int,
    requests: list[bytes],
    workdir: Path,
    rate: float = 0,
    concurrency: int = 0,
    duration: float = 0,
) -> dict:
    """Run the generator in a child process (its CPU is not ours); summary with percentiles."""
    req_path = workdir / f"{mode}.requests.pickle"
    with req_path.open("wb") as handle:
        pickle.dump(requests, handle)
    spec_path = workdir / f"{mode}.spec.json"
    spec = {
        "mode": mode, "port": port, "requests": str(req_path), "rate": rate,
        "concurrency": concurrency, "duration": duration,
    }  # fmt: skip
    spec_path.write_text(json.dumps(spec))
    proc = subprocess.run(
        [sys.executable, "-m", "bench.webhook_load", "--generate", str(spec_path)],
        cwd=BASE_DIR,
        capture_output=True,
        check=True,
    )
    result = json.loads(proc.stdout)
    lat = sorted(result.pop("latencies"))
    result.update(
        completed=len(lat),
        p50_ms=_percentile(lat, 50) * 1000,
        p90_ms=_percentile(lat, 90) * 1000,
        p99_ms=_percentile(lat, 99) * 1000,
        max_ms=(lat[-1] if lat else 0.0) * 1000,
        throughput_rps=len(lat) / result["elapsed_s"] if result["elapsed_s"] else 0.0,
    )
    result["errors"] = sum(n for s, n in result["statuses"].items() if s != "200")
    result["server_errors"] = sum(n for s, n in result["statuses"].items() if s.startswith("5"))
    return result


# --- correctness -----------------------------------------------------------------------------


_RUN_CHANNELS = "SELECT id FROM channels_app_channel WHERE phone_number_id LIKE 'benchwh%%'"


def check_stored(database_url: str, pattern: str, since: datetime | None = None) -> dict:
    """Messages whose wamid is LIKE ``pattern``, duplicates, and conversations left behind.

    With ``since`` (this module's runs) every statement stays inside the run's channels and,
    for messages, the months since the run began (partition pruning), so the check costs the
    same beside a history of 50M messages; without it, the whole tables (bench.http_load)."""
    import psycopg

    scope = f"AND channel_id IN ({_RUN_CHANNELS})" if since else ""
    since = since or datetime(2000, 1, 1, tzinfo=UTC)
    with psycopg.connect(_dsn(database_url)) as conn:
        stored, distinct = conn.execute(
            f"""SELECT count(*), count(DISTINCT (channel_id, provider_message_id))
               FROM conversations_message WHERE provider_message_id LIKE %s
               AND created_at >= %s {scope}""",
            (pattern, since),
        ).fetchone()
        stale = conn.execute(
            f"""SELECT count(*) FROM conversations_conversation c
               WHERE c.last_activity_at < (SELECT max(m.created_at) FROM conversations_message m
                                           WHERE m.conversation_id = c.id
                                             AND m.created_at >= %s
                                             AND m.provider_message_id LIKE %s) {scope}""",
            (since, pattern),
        ).fetchone()[0]
        two_open = conn.execute(
            f"""SELECT count(*) FROM (SELECT 1 FROM conversations_conversation
               WHERE status IN ('new', 'pending') {scope}
               GROUP BY channel_id, contact_id HAVING count(*) > 1) t"""
        ).fetchone()[0]
    return {"stored": stored, "duplicates": stored - distinct, "stale_conversations": stale,
            "contacts_with_two_open": two_open}  # fmt: skip


# --- raw-SQL floor ---------------------------------------------------------------------------

FLOOR_CONTACT = "SELECT id FROM conversations_contact WHERE kind = 'whatsapp' AND wa_id = %s"
FLOOR_CONTACT_INSERT = """
INSERT INTO conversations_contact (kind, wa_id, profile_name, phone, created_at)
VALUES ('whatsapp', %s, %s, %s, %s)
ON CONFLICT (kind, wa_id) WHERE wa_id IS NOT NULL DO NOTHING RETURNING id"""
FLOOR_CONVERSATION = """
SELECT id, status FROM conversations_conversation
WHERE channel_id = %s AND contact_id = %s AND status IN ('new', 'pending')
FOR NO KEY UPDATE"""
FLOOR_CONVERSATION_INSERT = """
INSERT INTO conversations_conversation (
    channel_id, contact_id, status, opened_at, last_customer_message_at, last_activity_at,
    resolution, last_message_preview)
VALUES (%s, %s, 'new', %s, %s, %s, '', '')
ON CONFLICT (channel_id, contact_id) WHERE status IN ('new', 'pending') DO NOTHING
RETURNING id"""
FLOOR_EVENT = """
INSERT INTO conversations_event (conversation_id, kind, data, created_at)
VALUES (%s, %s, %s, %s)"""
FLOOR_MESSAGE = """
INSERT INTO conversations_message (
    conversation_id, channel_id, direction, type, body, payload, provider_message_id,
    reply_to_provider_id, delivery, failure_reason, sent_outside_window, attempts, created_at,
    sent_at)
VALUES (%s, %s, 'in', 'text', %s, '{}', %s, '', 'received', '', false, 0, %s, %s)"""
FLOOR_UPDATE = """
UPDATE conversations_conversation
SET status = 'new', last_customer_message_at = greatest(last_customer_message_at, %s),
    last_activity_at = greatest(last_activity_at, %s), last_message_preview = %s
WHERE id = %s"""


FLOOR_TALLY = """
INSERT INTO conversations_messagetally
    (channel_id, hour, author_key, direction, outside_window, count)
VALUES (%s, %s, 0, 'in', false, 1)
ON CONFLICT (channel_id, hour, author_key, direction, outside_window)
DO UPDATE SET count = conversations_messagetally.count + 1"""


def _floor_worker(dsn: str, messages: list[dict], duration: float, ready, out) -> None:

    try:
        out.put(_floor_loop(dsn, messages, duration, ready))
    except Exception as exc:  # the parent reports it instead of waiting forever
        ready.abort()
        out.put(f"{type(exc).__name__}: {exc}")


def _floor_loop(dsn: str, messages: list[dict], duration: float, ready) -> tuple[int, float, float]:
    """(messages stored, this process's CPU seconds, its PostgreSQL backend's CPU seconds)."""
    import psycopg

    done = 0
    with psycopg.connect(dsn) as conn:
        backend = [conn.execute("SELECT pg_backend_pid()").fetchone()[0]]
        # Channels are looked up once: the floor is the per-message work only.
        channels = dict(
            conn.execute(
                "SELECT phone_number_id, id FROM channels_app_channel"
                " WHERE phone_number_id LIKE 'benchwh%'"
            ).fetchall()
        )
        conn.commit()
        ready.wait()  # every worker connected before the clock starts
        cpu_before = (time.process_time(), _cpu_seconds(backend))
        stop_at = time.monotonic() + duration
        for m in messages:
            if time.monotonic() >= stop_at:
                break
            now = datetime.now(UTC)
            sent_at = datetime.fromtimestamp(m["ts"], tz=UTC)
            channel_id = channels[m["pnid"]]
            with conn.transaction():
                cur = conn.cursor()
                row = cur.execute(FLOOR_CONTACT, (m["wa_id"],)).fetchone()
                if row is None:
                    # A concurrent first message may insert the same contact: then read it.
                    row = (
                        cur.execute(
                            FLOOR_CONTACT_INSERT, (m["wa_id"], m["name"], "+" + m["wa_id"], now)
                        ).fetchone()
                        or cur.execute(FLOOR_CONTACT, (m["wa_id"],)).fetchone()
                    )
                contact_id = row[0]
                row = cur.execute(FLOOR_CONVERSATION, (channel_id, contact_id)).fetchone()
                if row is None:
                    inserted = cur.execute(
                        FLOOR_CONVERSATION_INSERT, (channel_id, contact_id, sent_at, sent_at, now)
                    ).fetchone()
                    if inserted is None:  # lost the race to open it: lock the winner's
                        row = cur.execute(FLOOR_CONVERSATION, (channel_id, contact_id)).fetchone()
                    else:
                        row = (inserted[0], "new")
                        cur.execute(FLOOR_EVENT, (inserted[0], "opened", "{}", now))
                conv_id, status = row
                if status == "pending":
                    data = '{"from": "pending", "to": "new", "reason": "customer_replied"}'
                    cur.execute(FLOOR_EVENT, (conv_id, "status_changed", data, now))
                cur.execute(
                    FLOOR_MESSAGE, (conv_id, channel_id, m["text"], m["wamid"], now, sent_at)
                )
                cur.execute(FLOOR_UPDATE, (sent_at, now, m["text"][:200], conv_id))
                cur.execute(
                    FLOOR_TALLY, (channel_id, now.replace(minute=0, second=0, microsecond=0))
                )
            done += 1
        cpu = (time.process_time() - cpu_before[0], _cpu_seconds(backend) - cpu_before[1])
    return done, *cpu


def floor(database_url: str, *, concurrency: int, duration: float, senders: dict) -> dict:
    """Messages/s of the webhook's writes as raw SQL, ``concurrency`` connections in processes."""
    per_worker = int(MAX_SATURATION_RPS * duration / concurrency) + 100
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    ready = ctx.Barrier(concurrency + 1)
    tag = f"floor{int(time.time())}"
    procs = [
        ctx.Process(
            target=_floor_worker,
            args=(
                _dsn(database_url),
                _messages(f"{tag}w{w}", per_worker, senders, seed_=100 + w),
                duration,
                ready,
                out,
            ),
        )
        for w in range(concurrency)
    ]
    for p in procs:
        p.start()
    with contextlib.suppress(threading.BrokenBarrierError):
        ready.wait(timeout=120)
    started = time.monotonic()
    results = [out.get(timeout=duration + 120) for _ in procs]
    failures = [r for r in results if isinstance(r, str)]
    if failures:
        raise SystemExit(f"webhook_load: the floor failed: {failures[0]}")
    done = sum(r[0] for r in results)
    elapsed = time.monotonic() - started
    for p in procs:
        p.join()
    return {
        "concurrency": concurrency, "messages": done, "floor_rps": done / elapsed, "tag": tag,
        # What one message costs the floor: its client's CPU and its backend's (from /proc).
        "client_cpu_ms": 1000 * sum(r[1] for r in results) / max(1, done),
        "backend_cpu_ms": 1000 * sum(r[2] for r in results) / max(1, done),
    }  # fmt: skip


# --- the run ---------------------------------------------------------------------------------


@contextlib.contextmanager
def _stopping(bouncer: PgBouncer | None):
    try:
        yield bouncer
    finally:
        if bouncer is not None:
            bouncer.stop()


def run(
    database_url: str,
    *,
    rate: int = 200,
    duration: float = 20,
    concurrency: int = 8,
    saturation_duration: float | None = None,
    workers: int = 2,
    worker_class: str = "sync",
    threads: int = 4,
    warmup: int = 200,
    skip_floor: bool = False,
    pgbouncer: bool = False,
    keep_history: bool = False,
) -> dict:
    """Open-loop latency at ``rate``, closed-loop saturation, raw-SQL floor; the summary dict.

    ``pgbouncer``: gunicorn reaches the database through PgBouncer in transaction mode
    (bench/pgbouncer.py, a pool of 20 server connections) with DATABASE_TRANSACTION_POOLING on;
    seeding, checks and the floor stay direct."""
    _check_name(database_url)
    saturation_duration = saturation_duration or duration
    load = {"start": _loadavg()}
    migrate(database_url)
    seed(database_url, keep_history=keep_history)
    since = datetime.now(UTC) - timedelta(minutes=5)
    senders = _sender_channels(database_url)
    port = _free_port()
    tag = f"r{int(time.time())}"
    bouncer = None
    server_url = database_url
    if pgbouncer:
        bouncer = PgBouncer(server_port=urlsplit(database_url).port or 5432)
        bouncer.start()
        server_url = bouncer.url(urlsplit(database_url).path.lstrip("/"))
    with tempfile.TemporaryDirectory(prefix="webhook-load-") as tmp, _stopping(bouncer):
        workdir = Path(tmp)
        server = start_server(
            server_url, port=port, workers=workers, worker_class=worker_class,
            threads=threads, log=workdir / "gunicorn.log", pooling=pgbouncer,
        )  # fmt: skip
        try:
            # Warm-up: both workers import the views and open their database connections.
            warm = [signed_request(m, port=port) for m in _messages(f"{tag}w", warmup, senders, 1)]
            generate(mode="open", port=port, requests=warm, workdir=workdir, rate=100)
            open_msgs = _messages(f"{tag}o", int(rate * duration), senders, 2)
            latency = generate(
                mode="open", port=port, workdir=workdir, rate=rate,
                requests=[signed_request(m, port=port) for m in open_msgs],
            )  # fmt: skip
            sat_msgs = _messages(
                f"{tag}s", int(MAX_SATURATION_RPS * saturation_duration), senders, 3
            )
            postmaster = _postmaster_pid(database_url)
            app_pids = _children(server.pid)
            db_pids = _children(postmaster) if postmaster else []
            own = _backends_of(postmaster, urlsplit(database_url).path.lstrip("/"))
            load["saturation"] = _loadavg()
            cpu_before = (
                _cpu_seconds(app_pids), _cpu_seconds(db_pids), _machine_busy(), _cpu_seconds(own)
            )  # fmt: skip
            saturation = generate(
                mode="closed", port=port, workdir=workdir, concurrency=concurrency,
                duration=saturation_duration,
                requests=[signed_request(m, port=port) for m in sat_msgs],
            )  # fmt: skip
            app_cpu = _cpu_seconds(app_pids) - cpu_before[0]
            db_cpu = _cpu_seconds(_children(postmaster) if postmaster else []) - cpu_before[1]
            backend_cpu = _cpu_seconds(own) - cpu_before[3]
            busy, total = _machine_busy()
            machine_busy = (busy - cpu_before[2][0]) / max(1, total - cpu_before[2][1])
        finally:
            stop_server(server)
            _forget_announcements()
            server_log = (workdir / "gunicorn.log").read_text(errors="replace")
    checks = {
        "open": check_stored(database_url, f"wamid.{tag}o.%", since),
        "saturation": check_stored(database_url, f"wamid.{tag}s.%", since),
    }
    load["floor"] = _loadavg()
    floor_result = (
        {
            "concurrency": concurrency,
            "messages": 0,
            "floor_rps": 0.0,
            "client_cpu_ms": 0.0,
            "backend_cpu_ms": 0.0,
        }
        if skip_floor
        else floor(
            database_url, concurrency=concurrency, duration=saturation_duration, senders=senders
        )
    )
    if not skip_floor:
        checks["floor"] = check_stored(database_url, f"wamid.{floor_result['tag']}w%", since)
        checks["floor"]["expected"] = floor_result["messages"]
    stored = checks["open"]["stored"] + checks["saturation"]["stored"]
    ok = latency["ok"] + saturation["ok"]
    errors = latency["errors"] + saturation["errors"]
    exactly_once = (
        stored == ok
        and checks["open"]["duplicates"] == 0
        and checks["saturation"]["duplicates"] == 0
        and checks["open"]["stale_conversations"] == 0
        and checks["saturation"]["stale_conversations"] == 0
        and checks["saturation"]["contacts_with_two_open"] == 0
    )
    ratio = (
        saturation["throughput_rps"] / floor_result["floor_rps"]
        if floor_result["floor_rps"]
        else 0.0
    )
    return {
        "name": "webhook",
        "pgbouncer": pgbouncer_version() if pgbouncer else "",
        "workers": workers,
        "worker_class": worker_class,
        "rate": rate,
        "duration_s": duration,
        "sent": latency["sent"] + saturation["sent"],
        "p50_ms": round(latency["p50_ms"], 1),
        "p90_ms": round(latency["p90_ms"], 1),
        "p99_ms": round(latency["p99_ms"], 1),
        "max_ms": round(latency["max_ms"], 1),
        "achieved_rps": round(latency["throughput_rps"], 1),
        "max_start_lag_ms": round(latency["max_start_lag_ms"], 1),
        "errors": errors,
        "server_errors": latency["server_errors"] + saturation["server_errors"],
        "statuses": {"open": latency["statuses"], "saturation": saturation["statuses"]},
        "stored": stored,
        "exactly_once": exactly_once,
        "checks": checks,
        "concurrency": concurrency,
        "throughput_rps": round(saturation["throughput_rps"], 1),
        "saturation_p50_ms": round(saturation["p50_ms"], 1),
        "saturation_p99_ms": round(saturation["p99_ms"], 1),
        # CPU per stored message during saturation: what a core buys, independent of the noise.
        "app_cpu_ms_per_request": round(1000 * app_cpu / max(1, saturation["completed"]), 2),
        "db_cpu_ms_per_request": round(1000 * db_cpu / max(1, saturation["completed"]), 2),
        # Only the backends of this database (the cluster may serve others meanwhile).
        "backend_cpu_ms_per_request": round(
            1000 * backend_cpu / max(1, saturation["completed"]), 2
        ),
        "floor_client_cpu_ms": round(floor_result["client_cpu_ms"], 2),
        "floor_backend_cpu_ms": round(floor_result["backend_cpu_ms"], 2),
        "loadavg_1m": load,
        "machine_busy_during_saturation": round(machine_busy, 2),
        "generator_cpu_s": round(latency["generator_cpu_s"] + saturation["generator_cpu_s"], 2),
        "floor_rps": round(floor_result["floor_rps"], 1),
        "floor_concurrency": floor_result["concurrency"],
        "ratio": round(ratio, 3),
        "p50_met": latency["p50_ms"] <= TARGET_P50_MS,
        "p99_met": latency["p99_ms"] <= TARGET_P99_MS,
        "ratio_met": ratio >= TARGET_RATIO,
        "correct": exactly_once and errors == 0,
        "server_log_tail": [line for line in server_log.splitlines() if " /webhooks/" not in line][
            -10:
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.webhook_load", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--db", default=DEFAULT_DB, help="bench.pg database when no URL is given")
    parser.add_argument("--rate", type=int, default=200, help="open-loop requests/s")
    parser.add_argument("--duration", type=float, default=20, help="seconds per phase")
    parser.add_argument("--saturation-duration", type=float, default=None)
    parser.add_argument("--concurrency", type=int, default=8, help="saturation connections")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default="sync", choices=["sync", "gthread"])
    parser.add_argument("--threads", type=int, default=4, help="gthread only")
    parser.add_argument("--skip-floor", action="store_true")
    parser.add_argument(
        "--pgbouncer", action="store_true", help="gunicorn through PgBouncer, transaction mode"
    )
    parser.add_argument("--json", action="store_true", help="print the result dict as JSON")
    parser.add_argument("--generate", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.generate:
        _generate(args.generate)
        return 0
    database_url = args.database_url
    if not database_url:
        from bench import pg

        database_url = pg.start(args.db)
    result = run(
        database_url,
        rate=args.rate,
        duration=args.duration,
        saturation_duration=args.saturation_duration,
        concurrency=args.concurrency,
        workers=args.workers,
        worker_class=args.worker_class,
        threads=args.threads,
        skip_floor=args.skip_floor,
        pgbouncer=args.pgbouncer,
    )
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _report(result)
    met = result["p50_met"] and result["p99_met"] and result["ratio_met"] and result["correct"]
    return 0 if met else 1


def _report(r: dict) -> None:
    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT MET"

    via = f", through {r['pgbouncer']} (transaction mode)" if r.get("pgbouncer") else ""
    print(f"webhook under gunicorn ({r['workers']} {r['worker_class']} workers), loopback{via}")
    print(
        f"open loop {r['rate']} req/s for {r['duration_s']:g} s: achieved {r['achieved_rps']} "
        f"req/s, p50 {r['p50_ms']} ms ({verdict(r['p50_met'])}, <= {TARGET_P50_MS:g}), "
        f"p90 {r['p90_ms']} ms, p99 {r['p99_ms']} ms ({verdict(r['p99_met'])}, "
        f"<= {TARGET_P99_MS:g}), max {r['max_ms']} ms"
    )
    print(
        f"saturation, {r['concurrency']} connections: {r['throughput_rps']} req/s "
        f"(p50 {r['saturation_p50_ms']} ms, p99 {r['saturation_p99_ms']} ms)"
    )
    print(
        f"CPU per request at saturation: gunicorn {r['app_cpu_ms_per_request']} ms, "
        f"PostgreSQL {r['db_cpu_ms_per_request']} ms (this database's backends "
        f"{r['backend_cpu_ms_per_request']} ms); machine busy "
        f"{r['machine_busy_during_saturation']:.0%} (2 cores shared with other work)"
    )
    print(
        f"raw-SQL floor, {r['floor_concurrency']} connections: {r['floor_rps']} msg/s "
        f"(CPU per message: client {r['floor_client_cpu_ms']} ms, backend "
        f"{r['floor_backend_cpu_ms']} ms); ratio {r['ratio']:.0%} ({verdict(r['ratio_met'])}, "
        f">= {TARGET_RATIO:.0%})"
    )
    print("1-minute load average: " + ", ".join(f"{k} {v:.2f}" for k, v in r["loadavg_1m"].items()))
    print(
        f"sent {r['sent']}, stored {r['stored']}, errors {r['errors']} "
        f"(5xx {r['server_errors']}), exactly once: {r['exactly_once']}; "
        f"generator CPU {r['generator_cpu_s']} s"
    )


if __name__ == "__main__":
    sys.exit(main())
