"""The fault cases, run against the production processes on loopback.

One run starts a private PostgreSQL and Redis (bench.faults.infra), migrates a fresh database,
creates a WhatsApp channel and an agent, then starts the Procfile's processes (gunicorn with two
workers, a Celery worker with two processes, beat) and the WhatsApp emulator as a real HTTP
server. Every case injects customer messages through the emulator (its webhooks go to gunicorn)
and/or has the agent reply over HTTP (the replies go through Celery to the emulator), breaks one
thing while that happens, then counts from both ends: what the database stored and what the
emulator received. Counting is by content (each message and reply text is unique), so a duplicate
shows up whatever ids it carries.
"""

from __future__ import annotations

import itertools
import os
import random
import secrets
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
import psycopg

from bench.faults import infra
from bench.pgbouncer import PgBouncer

PNID = "109876543210987"  # a number the emulator knows by default (whatsapp_emulator DEMO_NUMBERS)
TOKEN = "demo-access-token"  # noqa: S105 - the emulator's demo token
FIELD_ENCRYPTION_KEY = "ZmF1bHQtc3VpdGUtbG9vcGJhY2stb25seS1rZXktMzI="  # loopback only
AGENT, AGENT_PASSWORD = "fault-agent", "fault-agent-password-2026"
APP_SECRET = "faults-app-secret"  # noqa: S105 - loopback only

SETUP = f"""
from django.contrib.auth import get_user_model
from channels_app.access import Role
from channels_app.models import AccessGrant, Channel
channel, _ = Channel.objects.get_or_create(phone_number_id="{PNID}", defaults=dict(
    display_name="Fault suite", waba_id="104455667788990", display_phone_number="+1 555-010-0234",
    verified_name="Fault suite", access_token="{TOKEN}"))
user, _ = get_user_model().objects.get_or_create(username="{AGENT}")
user.set_password("{AGENT_PASSWORD}")
user.save()
AccessGrant.objects.get_or_create(channel=channel, user=user, defaults=dict(role=Role.CONTRIBUTOR))
"""


@dataclass(frozen=True)
class Durations:
    """How long each fault lasts and how much traffic goes through it."""

    redeliver_messages: int
    outage_replies: int
    redis_down_s: float
    kill_replies: int
    http_errors_s: float
    http_error_replies: int
    pg_load_s: float
    pg_rate: float
    pg_down_s: float
    sweep_every_s: int
    stuck_queued_s: int
    stuck_sending_s: int  # above 4 x http_timeout_s (manage.py check, conversations.E001)
    http_timeout_s: float
    webhook_retry_delays: str

    @classmethod
    def full(cls) -> Durations:
        return cls(
            redeliver_messages=200,
            outage_replies=40,
            redis_down_s=30,
            kill_replies=40,
            http_errors_s=60,
            http_error_replies=30,
            pg_load_s=40,
            pg_rate=25,
            pg_down_s=5,
            sweep_every_s=5,
            stuck_queued_s=10,
            stuck_sending_s=30,
            http_timeout_s=5,
            webhook_retry_delays="1,2,4,8,16,32,64",
        )

    @classmethod
    def quick(cls) -> Durations:
        return cls(
            redeliver_messages=12,
            outage_replies=5,
            redis_down_s=3,
            kill_replies=6,
            http_errors_s=3,
            http_error_replies=4,
            pg_load_s=4,
            pg_rate=10,
            pg_down_s=1,
            sweep_every_s=1,
            stuck_queued_s=2,
            stuck_sending_s=10,
            http_timeout_s=2,
            webhook_retry_delays="0.5,1,2,4,8,16",
        )


@dataclass
class Result:
    case: str
    sent: int = 0
    stored: int = 0
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.lost == 0
            and self.duplicated == 0
            and not any(n.startswith("FAIL") for n in self.notes)
        )


def patience(items: int) -> float:
    """Seconds to wait for ``items`` messages to settle: generous, the 2 cores are often shared."""
    return 30 + 1.5 * items


def wait_until(condition: Callable[[], object], *, timeout: float, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except (httpx.HTTPError, psycopg.Error):
            value = None  # the thing being broken is allowed to be unreachable meanwhile
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


class Stack:
    """The running system: cluster, broker, Procfile processes, emulator, and probes into each."""

    def __init__(self, durations: Durations, *, log=print, pgbouncer: bool = False):
        self.d = durations
        self.log = log
        # Quick and full runs may overlap (CI and a developer): each has its own directory.
        self.home = infra.VAR / ("quick" if durations == Durations.quick() else "full")
        if pgbouncer:
            self.home = self.home.with_name(self.home.name + "-pgbouncer")
        self.pg = infra.Postgres(port=infra.free_port(), home=self.home)
        # Through PgBouncer when asked (bench/pgbouncer.py), as the README's deployment section
        # says: web in transaction mode, worker and beat in session mode (auto-resolve's
        # session-level advisory lock); the suite's own probes (self.sql) stay direct.
        self.bouncer = (
            PgBouncer(server_port=self.pg.port, session_databases=(self.pg.db,))
            if pgbouncer
            else None
        )
        self.redis = infra.Redis(port=infra.free_port(), home=self.home)
        self.web_port, self.emulator_port = infra.free_port(), infra.free_port()
        self.procs: infra.Processes | None = None
        self._ids = itertools.count(1)
        self.run_tag = secrets.token_hex(3)
        self.prefix = f"{secrets.randbelow(1000):03d}"

    # --- lifecycle -----------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        d = self.d
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST", "CELERY"))
        }
        env.update(
            PATH=f"{infra.BIN}:{env.get('PATH', '/usr/bin:/bin')}",
            PYTHONUNBUFFERED="1",
            DJANGO_SETTINGS_MODULE="config.settings",
            DATABASE_URL=self.bouncer.url(self.pg.db) if self.bouncer else self.pg.url,
            DATABASE_TRANSACTION_POOLING="1" if self.bouncer else "0",
            REDIS_URL=self.redis.url,
            DEBUG="0",
            SECRET_KEY="faults-" + secrets.token_urlsafe(40),
            # Production refuses to start without a key (docs/security.md); any fixed one does,
            # every run migrates a database of its own.
            FIELD_ENCRYPTION_KEYS=FIELD_ENCRYPTION_KEY,
            ALLOWED_HOSTS="127.0.0.1,localhost",
            # Plain HTTP on loopback, no proxy in front: the HTTPS-only flags stay off here.
            SECURE_SSL_REDIRECT="0",
            SESSION_COOKIE_SECURE="0",
            CSRF_COOKIE_SECURE="0",
            SECURE_HSTS_SECONDS="0",
            BIND=f"127.0.0.1:{self.web_port}",
            WEB_CONCURRENCY="2",
            CELERY_CONCURRENCY="2",
            WHATSAPP_GRAPH_URL=f"http://127.0.0.1:{self.emulator_port}/v23.0",
            WHATSAPP_APP_SECRET=APP_SECRET,
            WHATSAPP_EMULATOR_WEBHOOK_URL=f"http://127.0.0.1:{self.web_port}/webhooks/whatsapp/",
            WHATSAPP_HTTP_TIMEOUT=str(d.http_timeout_s),
            OUTBOUND_SWEEP_EVERY_S=str(d.sweep_every_s),
            OUTBOUND_STUCK_QUEUED_AFTER_S=str(d.stuck_queued_s),
            OUTBOUND_STUCK_SENDING_AFTER_S=str(d.stuck_sending_s),
            MEDIA_ROOT=str(self.home / "media"),
            CELERY_BEAT_SCHEDULE_FILENAME=str(self.home / "celerybeat-schedule"),
            LOG_LEVEL="INFO",
        )
        return env

    def start(self) -> None:
        started = time.monotonic()
        self.pg.start()
        if self.bouncer:
            self.bouncer.start()
        self.redis.start()
        env = self.env()
        python = str(infra.BIN / "python")
        self.pg.fresh_database()
        shutil.rmtree(self.home / "logs", ignore_errors=True)
        for argv in (
            [python, "manage.py", "migrate", "--noinput", "-v", "0"],
            [python, "manage.py", "shell", "-c", SETUP],
        ):
            proc = subprocess.run(argv, cwd=infra.ROOT, env=env, capture_output=True, text=True)
            if proc.returncode:
                raise RuntimeError(f"faults: {' '.join(argv[:3])} failed:\n{proc.stderr[-3000:]}")
        self.procs = infra.Processes(env=env, logs=self.home / "logs")
        if self.bouncer:
            session = {
                **env,
                "DATABASE_URL": self.bouncer.url(self.pg.db, session=True),
                "DATABASE_TRANSACTION_POOLING": "0",
            }
            self.procs.envs = {"worker": session, "beat": session}
        for name in infra.procfile():
            self.procs.start(name)
        self.procs.start(
            "emulator",
            [python, "manage.py", "whatsapp_emulator", "--port", str(self.emulator_port),
             "--status-delay", "0.2", "--webhook-retry-delays", self.d.webhook_retry_delays],
        )  # fmt: skip
        for port in (self.web_port, self.emulator_port):
            if not infra.wait_port(port, timeout=60):
                raise RuntimeError(f"faults: nothing listening on {port}; see {self.home}/logs")
        self.wait_worker()
        self.agent = self.login()
        self.log(f"stack up in {time.monotonic() - started:.1f}s (logs in {self.procs.logs})")

    def stop(self) -> None:
        if self.procs:
            self.procs.stop_all()
        if self.bouncer:
            self.bouncer.stop()
        self.redis.stop()
        self.pg.remove()

    def wait_worker(self, timeout: float = 60) -> None:
        """Until the Celery worker has connected to the broker (its log says "ready")."""
        log = self.procs.logs / "worker.log"
        mark = log.stat().st_size if log.exists() else 0

        def ready() -> bool:
            with log.open("rb") as handle:
                handle.seek(0 if mark == 0 else mark)
                return b"ready." in handle.read()

        if not wait_until(ready, timeout=timeout):
            raise RuntimeError("faults: the Celery worker did not become ready")

    # --- probes ----------------------------------------------------------------------------------
    def emulator(self, method: str, path: str, **kwargs) -> httpx.Response:
        url = f"http://127.0.0.1:{self.emulator_port}/_emulator/api/{path}"
        response = httpx.request(method, url, timeout=10, **kwargs)
        response.raise_for_status()
        return response

    def switches(self, **values) -> None:
        self.emulator("POST", "switches", json={"reset": True, **values})

    def emulator_idle(self) -> bool:
        return self.emulator("GET", "stats").json()["pending"] == 0

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.pg.url, connect_timeout=3) as conn:
            return conn.execute(query, params).fetchall()

    def login(self) -> httpx.Client:
        # Django accepts any well-formed CSRF secret the client sets as long as the form echoes it,
        # so no page has to be rendered to obtain one.
        csrf = secrets.token_hex(16)
        client = httpx.Client(base_url=f"http://127.0.0.1:{self.web_port}", timeout=30)
        client.cookies.set("csrftoken", csrf)
        client.headers["X-CSRFToken"] = csrf
        response = client.post("/login/", data={"username": AGENT, "password": AGENT_PASSWORD})
        if response.status_code != 302:
            raise RuntimeError(f"faults: agent login answered {response.status_code}")
        # Logging in rotates the CSRF secret (a fresh cookie): echo the new one from now on.
        rotated = [c.value for c in client.cookies.jar if c.name == "csrftoken" and c.value != csrf]
        client.headers["X-CSRFToken"] = rotated[-1] if rotated else csrf
        return client

    # --- traffic -------------------------------------------------------------------------------
    def customer(self) -> str:
        return f"4915{self.prefix}{next(self._ids):06d}"

    def inject(self, wa_id: str, text: str) -> str:
        response = self.emulator(
            "POST", "inject", json={"phone_number_id": PNID, "from": wa_id, "text": text}
        )
        return response.json()["id"]

    def conversations_of(self, wa_ids: list[str]) -> dict[str, list[int]]:
        rows = self.sql(
            "SELECT ct.wa_id, c.id FROM conversations_conversation c "
            "JOIN conversations_contact ct ON ct.id = c.contact_id WHERE ct.wa_id = ANY(%s)",
            (wa_ids,),
        )
        found: dict[str, list[int]] = {}
        for wa_id, pk in rows:
            found.setdefault(wa_id, []).append(pk)
        return found

    def inbound_counts(self, wamids: list[str]) -> Counter:
        rows = self.sql(
            "SELECT provider_message_id, count(*) FROM conversations_message "
            "WHERE direction = 'in' AND provider_message_id = ANY(%s) GROUP BY 1",
            (wamids,),
        )
        return Counter(dict(rows))

    def open_conversations(self, n: int, prefix: str) -> dict[str, int]:
        """``n`` customers write once; returns their conversation ids once all are stored."""
        wa_ids = [self.customer() for _ in range(n)]
        for wa_id in wa_ids:
            self.inject(wa_id, f"{prefix} hello from {wa_id}")
        found = wait_until(
            lambda: (c := self.conversations_of(wa_ids)) and len(c) == n and c,
            timeout=patience(n),
        )
        if not found:
            raise RuntimeError(f"faults: {prefix}: the customers' first messages were not stored")
        return {wa_id: pks[0] for wa_id, pks in found.items()}

    def reply(self, conversation: int, body: str) -> bool:
        response = self.agent.post(f"/conversations/{conversation}/reply/", data={"body": body})
        return response.status_code in (302, 303)

    def outbound(self, bodies: list[str]) -> tuple[Counter, dict[str, str], Counter]:
        """Rows stored per body, their delivery states, and sends the emulator saw per body."""
        rows = self.sql(
            "SELECT body, delivery FROM conversations_message "
            "WHERE direction = 'out' AND body = ANY(%s)",
            (bodies,),
        )
        stored = Counter(body for body, _ in rows)
        states = dict(rows)
        wanted = set(bodies)
        sends = Counter(
            s["text"] for s in self.emulator("GET", "sent").json() if s["text"] in wanted
        )
        return stored, states, sends

    def replies_done(self, bodies: list[str]) -> bool:
        _, states, _ = self.outbound(bodies)
        return (
            len(states) == len(bodies)
            and all(s in ("read", "failed") for s in states.values())
            and self.emulator_idle()
        )

    def score_replies(self, result: Result, bodies: list[str], attempted: int) -> Result:
        stored, states, sends = self.outbound(bodies)
        result.sent = attempted
        result.stored = sum(stored.values())
        arrived = [b for b in bodies if sends[b] and states.get(b) in ("delivered", "read")]
        result.delivered = len(arrived)
        result.lost = attempted - len(arrived)
        result.duplicated = sum(c - 1 for c in stored.values() if c > 1) + sum(
            c - 1 for c in sends.values() if c > 1
        )
        failed = sum(1 for s in states.values() if s == "failed")
        if failed:
            result.notes.append(f"{failed} marked failed")
        return result


# --- the cases ---------------------------------------------------------------------------------
def case_redeliver(stack: Stack) -> Result:
    """a) every webhook 3x, concurrently, out of order: stored once, statuses never backwards."""
    result = Result("a redeliver 3x")
    n = stack.d.redeliver_messages
    stack.switches(
        webhook_copies=3, webhook_jitter=0.5, concurrent_webhooks=True, reorder_statuses=True
    )
    # Two messages per customer, so copies of different messages race on one conversation too.
    wa_ids = [stack.customer() for _ in range(n // 2)]
    wamids = []
    with ThreadPoolExecutor(4) as pool:
        futures = [
            pool.submit(stack.inject, wa_id, f"a {wa_id} #{i}") for i in (1, 2) for wa_id in wa_ids
        ]
        wamids = [f.result() for f in futures]
    wait_until(lambda: len(stack.inbound_counts(wamids)) == len(wamids), timeout=patience(n))
    wait_until(stack.emulator_idle, timeout=patience(n))
    counts = stack.inbound_counts(wamids)
    conversations = stack.conversations_of(wa_ids)
    # The agent answers each conversation; its statuses come back 3x each and in reverse order.
    bodies = [f"a reply {stack.run_tag} {wa_id}" for wa_id in wa_ids]
    attempted = sum(
        stack.reply(conversations[wa_id][0], body)
        for wa_id, body in zip(wa_ids, bodies, strict=True)
        if wa_id in conversations
    )
    wait_until(lambda: stack.replies_done(bodies), timeout=patience(len(bodies)))
    stored, states, sends = stack.outbound(bodies)
    result.sent = len(wamids) + attempted
    result.stored = sum(counts.values()) + sum(stored.values())
    arrived = [b for b in bodies if sends[b] and states.get(b) == "read"]
    result.delivered = len(counts) + len(arrived)
    result.lost = result.sent - result.delivered
    result.duplicated = (
        sum(c - 1 for c in counts.values())
        + sum(len(pks) - 1 for pks in conversations.values())
        + sum(c - 1 for c in stored.values() if c > 1)
        + sum(c - 1 for c in sends.values() if c > 1)
    )
    behind = sum(1 for b in bodies if states.get(b) != "read")
    result.notes.append(f"{len(wamids)} msgs + {attempted} replies; statuses 3x reversed")
    if behind:
        result.notes.append(f"FAIL {behind} replies not at 'read' by the deadline")
    return result


def case_redis_down(stack: Stack) -> Result:
    """b) the broker stops while agents reply: every reply delivered exactly once after."""
    d = stack.d
    result = Result(f"b redis down {d.redis_down_s:g}s")
    stack.switches()
    conversations = list(stack.open_conversations(d.outage_replies, "b").values())
    bodies = [f"b reply {stack.run_tag} {i}" for i in range(len(conversations))]
    stack.redis.stop()
    down_at = time.monotonic()
    # The replies are spread over the outage, as agents would keep typing (four at a time).
    gap = d.redis_down_s * 0.7 / max(len(bodies), 1)

    def reply_at(i: int) -> bool:
        time.sleep(max(0.0, down_at + i * gap - time.monotonic()))
        return stack.reply(conversations[i], bodies[i])

    with ThreadPoolExecutor(4) as pool:
        attempted = sum(pool.map(reply_at, range(len(bodies))))
    time.sleep(max(0.0, d.redis_down_s - (time.monotonic() - down_at)))
    stack.redis.start()
    result.notes.append(f"down {time.monotonic() - down_at:.1f}s")
    wait_until(
        lambda: stack.replies_done(bodies), timeout=patience(len(bodies)) + d.stuck_queued_s * 3
    )
    if attempted < len(bodies):
        result.notes.append(f"FAIL {len(bodies) - attempted} reply requests refused")
    return stack.score_replies(result, bodies, len(bodies))


def case_kill_worker(stack: Stack) -> Result:
    """c) kill -9 the Celery worker (main process and pool) mid-send; a new one takes over."""
    d = stack.d
    result = Result("c kill -9 worker")
    stack.switches(send_delay=0.7)  # every send is in flight for a while
    conversations = list(stack.open_conversations(d.kill_replies, "c").values())
    bodies = [f"c reply {stack.run_tag} {i}" for i in range(len(conversations))]
    attempted = sum(stack.reply(c, b) for c, b in zip(conversations, bodies, strict=True))

    def in_flight() -> bool:
        rows = stack.sql(
            "SELECT delivery, count(*) FROM conversations_message "
            "WHERE direction = 'out' AND body = ANY(%s) GROUP BY 1",
            (bodies,),
        )
        return dict(rows).get("sending", 0) >= 1

    wait_until(in_flight, timeout=30, interval=0.05)
    time.sleep(random.uniform(0.1, 0.5))  # somewhere inside the emulator's slow answer
    sending = stack.sql(
        "SELECT count(*) FROM conversations_message "
        "WHERE direction = 'out' AND body = ANY(%s) AND delivery = 'sending'",
        (bodies,),
    )[0][0]
    stack.procs.kill("worker")
    result.notes.append(f"killed with {sending} mid-send")
    time.sleep(1.0)
    stack.procs.start("worker")
    stack.wait_worker()
    wait_until(
        lambda: stack.replies_done(bodies), timeout=patience(len(bodies)) + d.stuck_sending_s * 2
    )
    stack.switches()
    return stack.score_replies(result, bodies, attempted)


def case_http_errors(stack: Stack) -> Result:
    """d) the provider answers 429 and 500 to every send for a while: all delivered after."""
    d = stack.d
    result = Result(f"d 429/500 for {d.http_errors_s:g}s")
    stack.switches()
    conversations = list(stack.open_conversations(d.http_error_replies, "d").values())
    bodies = [f"d reply {stack.run_tag} {i}" for i in range(len(conversations))]
    stack.emulator("POST", "http-errors", json={"seconds": d.http_errors_s, "statuses": [429, 500]})
    attempted = sum(stack.reply(c, b) for c, b in zip(conversations, bodies, strict=True))
    # The retry bound: backoff doubles from 2 s to a 120 s cap (conversations.outbound).
    wait_until(
        lambda: stack.replies_done(bodies), timeout=d.http_errors_s + 240 + patience(len(bodies))
    )
    served = stack.emulator("GET", "stats").json()["http_errors_served"]
    result.notes.append(f"{served} error answers in total")
    return stack.score_replies(result, bodies, attempted)


def case_pg_restart(stack: Stack) -> Result:
    """e) PostgreSQL restarts under webhook load: the provider's retries recover every message."""
    d = stack.d
    result = Result(f"e pg restart ({d.pg_down_s:g}s down)")
    stack.switches(concurrent_webhooks=True)
    before = stack.emulator("GET", "stats").json()
    wa_ids = [stack.customer() for _ in range(20)]
    wamids: list[str] = []
    stop = threading.Event()

    lock = threading.Lock()
    counter = itertools.count()
    loaders = 4  # an inject takes a while on a busy machine: several clients keep the rate

    def load(offset: int) -> None:
        next_at = time.monotonic() + offset / d.pg_rate
        while not stop.is_set():
            i = next(counter)
            wamid = stack.inject(wa_ids[i % len(wa_ids)], f"e load {stack.run_tag} {i}")
            with lock:
                wamids.append(wamid)
            next_at += loaders / d.pg_rate
            time.sleep(max(0.0, next_at - time.monotonic()))

    threads = [threading.Thread(target=load, args=(k,), daemon=True) for k in range(loaders)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(d.pg_load_s / 3)
    stack.pg.restart(down_for=d.pg_down_s)
    result.notes.append(f"restarted at {d.pg_load_s / 3:.0f}s")
    time.sleep(max(0.0, d.pg_load_s - (time.monotonic() - started)))
    stop.set()
    for thread in threads:
        thread.join()
    result.notes.append(f"{len(wamids) / (time.monotonic() - started):.0f} webhooks/s offered")
    # Each webhook the restart refused comes back within the emulator's retry schedule.
    bound = sum(float(x) for x in d.webhook_retry_delays.split(",")) + 30
    wait_until(
        lambda: stack.emulator_idle() and len(stack.inbound_counts(wamids)) == len(wamids),
        timeout=bound,
    )
    after = stack.emulator("GET", "stats").json()
    counts = stack.inbound_counts(wamids)
    result.sent = len(wamids)
    result.stored = sum(counts.values())
    result.delivered = len(counts)
    result.lost = len(wamids) - len(counts)
    result.duplicated = sum(c - 1 for c in counts.values())
    refused = after["webhook_failed_attempts"] - before["webhook_failed_attempts"]
    dropped = after["webhooks_dropped"] - before["webhooks_dropped"]
    result.notes.append(f"{refused} webhook attempts refused and retried")
    if dropped:
        result.notes.append(f"FAIL {dropped} webhooks dropped after the last retry")
    return result


CASES: dict[str, Callable[[Stack], Result]] = {
    "a": case_redeliver,
    "b": case_redis_down,
    "c": case_kill_worker,
    "d": case_http_errors,
    "e": case_pg_restart,
}


def run(*, quick: bool, cases: str = "abcde", log=print, pgbouncer: bool = False) -> list[Result]:
    """Start the stack, run the chosen cases in order, stop everything; one Result per case.
    ``pgbouncer``: the Procfile's processes reach PostgreSQL through PgBouncer (transaction
    mode)."""
    stack = Stack(Durations.quick() if quick else Durations.full(), log=log, pgbouncer=pgbouncer)
    results = []
    try:
        stack.start()
        for key in cases:
            began = time.monotonic()
            try:
                result = CASES[key](stack)
            except Exception as exc:  # a broken case is reported, the others still run
                result = Result(CASES[key].__doc__.split(")")[0] + ")", notes=[f"FAIL {exc!r}"])
            result.seconds = time.monotonic() - began
            dead = stack.procs.dead()
            if dead:
                result.notes.append(f"FAIL processes exited: {', '.join(dead)}")
            log(format_row(result))
            results.append(result)
    finally:
        stack.stop()
    return results


HEADER = ("case", "sent", "stored", "delivered", "lost", "duplicated", "time", "notes")


def format_row(r: Result) -> str:
    cells = (r.case, r.sent, r.stored, r.delivered, r.lost, r.duplicated, f"{r.seconds:.1f}s")
    return "| " + " | ".join(str(c) for c in cells) + " | " + "; ".join(r.notes) + " |"


def table(results: list[Result]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += [format_row(r) for r in results]
    return "\n".join(lines)
