"""A local emulator of the WhatsApp Cloud API: a real HTTP server speaking the Graph paths.

It exists because the real API cannot be reached from our machines (DESIGN.md section 3). It
implements the endpoints of reference section 8 with their validation and error codes, keeps its
state in memory, and delivers signed webhooks to the app (``webhook_url``): statuses after every
send (sent → delivered → read), inbound customer messages injected from its "customer phone" page,
its JSON API or ``manage.py whatsapp_emulator inject``, and template review results.

It also has the switches the tests need: a controllable clock, forced failures (sync or async),
429/500 for N requests, duplicate and out-of-order webhooks, and a test-only read of the last
verification code. Nothing here imports Django: the management command and the test fixture pass
settings in through ``EmulatorConfig``. See docs/whatsapp.md.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from devtools.whatsapp_emulator.control import Control
from devtools.whatsapp_emulator.customer import CustomerSide
from devtools.whatsapp_emulator.graph import (
    GraphError,
)
from devtools.whatsapp_emulator.graph_objects import GraphObjects
from devtools.whatsapp_emulator.health_out import HealthOut
from devtools.whatsapp_emulator.media import Media
from devtools.whatsapp_emulator.numbers import Numbers
from devtools.whatsapp_emulator.sends import Sends
from devtools.whatsapp_emulator.state import EmulatorConfig, Number
from devtools.whatsapp_emulator.webhooks_out import WebhooksOut

logger = logging.getLogger(__name__)


class Emulator(
    WebhooksOut, CustomerSide, Sends, Media, GraphObjects, Numbers, Control, HealthOut
):
    """The emulator's state and behaviour; ``start()`` serves it over HTTP on a free port."""

    def __init__(self, config: EmulatorConfig):
        self.config = config
        self._lock = threading.RLock()
        self._clock_offset = 0.0
        self._ids = itertools.count(1)
        self.numbers: dict[str, Number] = {}
        self.tokens: set[str] = set()
        self.templates: dict[str, dict[tuple[str, str], dict]] = {}
        self.media: dict[str, dict] = {}
        self.last_inbound: dict[tuple[str, str], float] = {}
        self.chats: dict[tuple[str, str], list[dict]] = {}
        self.contact_names: dict[tuple[str, str], str] = {}
        # What each business number's own phone received: verification SMS and voice calls.
        self._device: dict[str, list[dict]] = {}
        self.sent: list[dict] = []
        self.webhooks_delivered: list[dict] = []
        self._recent_sends: dict[str, deque] = {}
        self._issued_codes: dict[str, str] = {}
        self._code_salt = secrets.token_bytes(16)
        # Test switches.
        self._fail_next: deque[tuple[int, str]] = deque()
        self._http_errors: deque[int] = deque()
        # Media downloads answered with an HTTP error (503 …) before the file, once each.
        self._media_errors: deque[int] = deque()
        # Every "mark as read" call (with or without the typing indicator), for tests and the
        # phone page: {phone_number_id, message_id, typing, at}.
        self.read_marks: list[dict] = []
        self._typing: dict[tuple[str, str], float] = {}
        # Fault suite (bench/faults): an outage window answering 429/5xx, each webhook sent N
        # times at once in random order, and a slow send so a worker can be killed mid-call.
        self._http_errors_until = 0.0
        self._http_errors_cycle: tuple[int, ...] = (429, 500)
        self._http_errors_served = 0
        self.webhook_copies = 1
        self.webhook_jitter = 0.0
        self.concurrent_webhooks = False
        self.send_delay = 0.0
        self.webhooks_dropped = 0
        self.duplicate_webhooks = False
        self.reorder_statuses = False
        self._bad_signature_next = 0
        self._delivering = 0
        # Scheduled work (status webhooks, retries, template reviews), run by one thread.
        self._heap: list = []
        self._seq = itertools.count()
        self._wake = threading.Condition(self._lock)
        # Bumped by every scheduled job and when it has run: the phone page waits on it
        # (``wait_for_change``) instead of polling.
        self.changes = 0
        self._stopping = False
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._base_url = ""
        for number in config.numbers:
            self.add_number(**number)

    # --- setup -------------------------------------------------------------------------------
    def add_number(
        self,
        *,
        phone_number_id: str,
        waba_id: str,
        display_phone_number: str = "",
        verified_name: str = "",
        token: str = "",
        registered: bool = True,
    ) -> Number:
        with self._lock:
            number = Number(
                phone_number_id=str(phone_number_id),
                waba_id=str(waba_id),
                display_phone_number=display_phone_number or f"+1 555-{phone_number_id[-7:]}",
                verified_name=verified_name or "Emulated business",
                registered=registered,
                code_verification_status="VERIFIED" if registered else "NOT_VERIFIED",
            )
            self.numbers[number.phone_number_id] = number
            self.templates.setdefault(number.waba_id, {})
            if token:
                self.tokens.add(token)
            return number

    def add_template(
        self,
        waba_id: str,
        *,
        name: str,
        language: str = "en_US",
        category: str = "UTILITY",
        components: list | None = None,
        status: str = "APPROVED",
    ) -> dict:
        with self._lock:
            template = {
                "id": str(778899000000000 + next(self._ids)),
                "name": name,
                "language": language,
                "status": status,
                "category": category,
                "parameter_format": "POSITIONAL",
                "components": components or [{"type": "BODY", "text": "Hello {{1}}"}],
                "rejected_reason": "NONE",
                "quality_score": {"score": "UNKNOWN", "date": int(self.now())},
            }
            self.templates.setdefault(str(waba_id), {})[(name, language)] = template
            return template

    # --- clock -------------------------------------------------------------------------------
    def now(self) -> float:
        return time.time() + self._clock_offset

    def advance_clock(self, seconds: float) -> None:
        with self._lock:
            self._clock_offset += seconds

    def reset_clock(self) -> None:
        with self._lock:
            self._clock_offset = 0.0

    # --- switches ----------------------------------------------------------------------------
    def fail_next_send(self, code: int, *, mode: str = "sync", count: int = 1) -> None:
        """The next ``count`` sends fail with Meta's ``code``: as the HTTP answer or as a status."""
        if mode not in ("sync", "async"):
            raise ValueError("mode is sync or async")
        with self._lock:
            self._fail_next.extend([(int(code), mode)] * count)

    def http_errors(self, status: int, count: int = 1) -> None:
        """Answer the next ``count`` sends with HTTP ``status`` (429 or 5xx) before validating."""
        with self._lock:
            self._http_errors.extend([int(status)] * count)

    def http_errors_for(self, seconds: float, statuses: tuple[int, ...] = (429, 500)) -> None:
        """Answer every send with the ``statuses`` in turn for the next ``seconds`` (an outage)."""
        with self._lock:
            self._http_errors_until = time.monotonic() + float(seconds)
            self._http_errors_cycle = tuple(int(s) for s in statuses) or (500,)

    def media_errors(self, status: int, count: int = 1) -> None:
        """Answer the next ``count`` media downloads (the file's bytes) with HTTP ``status``."""
        with self._lock:
            self._media_errors.extend([int(status)] * count)

    def stats(self) -> dict:
        """Counters for scripts: sends, webhook attempts by outcome, work still scheduled."""
        with self._lock:
            attempts = len(self.webhooks_delivered)
            ok = sum(1 for w in self.webhooks_delivered if 200 <= (w["status"] or 0) < 300)
            return {
                "sends": len(self.sent),
                "webhook_attempts": attempts,
                "webhook_ok": ok,
                "webhook_failed_attempts": attempts - ok,
                "webhooks_dropped": self.webhooks_dropped,
                "http_errors_served": self._http_errors_served,
                "pending": len(self._heap) + self._delivering,
            }

    def bad_signature_next(self, count: int = 1) -> None:
        with self._lock:
            self._bad_signature_next += count

    def reset_switches(self) -> None:
        with self._lock:
            self._fail_next.clear()
            self._http_errors.clear()
            self._media_errors.clear()
            self.read_marks.clear()
            self._typing.clear()
            self._http_errors_until = 0.0
            self.webhook_copies, self.webhook_jitter = 1, 0.0
            self.concurrent_webhooks = False
            self.send_delay = 0.0
            self.duplicate_webhooks = self.reorder_statuses = False
            self._bad_signature_next = 0

    def last_code(self, phone_number_id: str) -> str | None:
        """Test-only: the last verification code issued for a number (needs expose_codes)."""
        if not self.config.expose_codes:
            raise PermissionError("the emulator was started without expose_codes")
        return self._issued_codes.get(phone_number_id)

    def sends(self, phone_number_id: str | None = None) -> list[dict]:
        with self._lock:
            return [s for s in self.sent if phone_number_id in (None, s["phone_number_id"])]

    # --- lifecycle ---------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def graph_url(self) -> str:
        return f"{self._base_url}/v23.0"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> Emulator:
        handler = type("Handler", (_Handler,), {"emulator": self})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._base_url = f"http://{host}:{self._server.server_address[1]}"
        self._stopping = False
        for target in (self._server.serve_forever, self._run_scheduled):
            thread = threading.Thread(target=target, daemon=True, name="wa-emulator")
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._wake.notify_all()
        if self._server:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()

    def serve_forever(self, host: str, port: int) -> None:
        self.start(host, port)
        try:
            while True:
                time.sleep(3600)
        finally:
            self.stop()

    # --- scheduling and webhook delivery -----------------------------------------------------
    def _schedule(self, delay: float, job: Callable[[], None]) -> None:
        with self._lock:
            heapq.heappush(self._heap, (time.monotonic() + delay, next(self._seq), job))
            self.changes += 1
            self._wake.notify_all()

    def _run_scheduled(self) -> None:
        while True:
            with self._lock:
                while not self._stopping and (
                    not self._heap or self._heap[0][0] > time.monotonic()
                ):
                    timeout = self._heap[0][0] - time.monotonic() if self._heap else None
                    self._wake.wait(timeout)
                if self._stopping:
                    return
                _, _, job = heapq.heappop(self._heap)
            try:
                job()
            except Exception:  # a broken job must not stop the emulator
                logger.exception("emulator job failed")
            with self._lock:
                self.changes += 1
                self._wake.notify_all()

    def wait_for_change(self, since: int, timeout: float = 25.0) -> dict:
        """Block until something changed after ``since`` (a value of ``changes``) or the
        timeout passes; the phone page's long poll."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self.changes == since and not self._stopping:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._wake.wait(remaining)
            return {"changes": self.changes}

    def idle(self, timeout: float = 10.0) -> bool:
        """Wait until no webhook or review is scheduled (tests); False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._heap and not self._delivering:
                    return True
            time.sleep(0.02)
        return False

    # --- request handling --------------------------------------------------------------------
    def handle(self, method: str, raw_path: str, headers, body: bytes) -> tuple[int, str, bytes]:
        split = urlsplit(raw_path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        path = split.path.rstrip("/") or "/"
        try:
            if path.startswith("/_emulator"):
                return self._handle_control(method, path, query, headers, body)
            parts = [p for p in path.split("/") if p]
            if parts and re.fullmatch(r"v\d+\.\d+", parts[0]):
                parts = parts[1:]  # the Graph version prefix is accepted and ignored
            self._authenticate(headers, query)
            result = self._handle_graph(method, parts, query, headers, body)
            return 200, "application/json", json.dumps(result).encode()
        except GraphError as exc:
            return exc.http, "application/json", json.dumps(exc.body()).encode()

    def _authenticate(self, headers, query: dict) -> None:
        auth = headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else query.get("access_token", "")
        if not token or token not in self.tokens:
            raise GraphError(190, "Invalid OAuth access token.", http=401)

    def _json(self, body: bytes) -> dict:
        if not body:
            return {}
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise GraphError(100, "Request body is not valid JSON") from exc
        if not isinstance(data, dict):
            raise GraphError(100, "Request body must be a JSON object")
        return data

    def _number(self, pnid: str) -> Number:
        number = self.numbers.get(pnid)
        if number is None:
            raise GraphError(
                100,
                f"Unsupported post request. Object with ID '{pnid}' does not exist, cannot be "
                "loaded due to missing permissions, or does not support this operation.",
            )
        return number

    def _handle_graph(self, method: str, parts: list[str], query: dict, headers, body: bytes):
        if len(parts) == 1:
            return self._object(method, parts[0], query, body)
        if len(parts) != 2:
            raise GraphError(100, "Unknown path")
        obj, edge = parts
        if edge == "messages" and method == "POST":
            return self._messages(obj, self._json(body))
        if edge == "media" and method == "POST":
            return self._upload(obj, headers, body)
        if edge == "message_templates":
            return self._templates(method, obj, query, self._json(body) if method == "POST" else {})
        if edge == "phone_numbers":
            return self._phone_numbers(method, obj, self._json(body) if method == "POST" else {})
        if edge == "whatsapp_business_profile":
            return self._profile(method, obj, self._json(body) if method == "POST" else {})
        if method == "POST" and edge in ("request_code", "verify_code", "register", "deregister"):
            data = {**query, **self._json(body)}
            return getattr(self, f"_{edge}")(self._number(obj), data)
        if method == "POST" and edge == "official_business_account":
            with self._lock:
                self._number(obj).oba_request = self._json(body)
            return {"success": True}
        raise GraphError(100, f"Unknown edge {edge} for {method}")


class _Handler(BaseHTTPRequestHandler):
    emulator: Emulator
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            status, ctype, payload = self.emulator.handle(
                self.command, self.path, self.headers, body
            )
        except (KeyError, TypeError, ValueError) as exc:
            status, ctype = 400, "application/json"
            payload = json.dumps(GraphError(100, f"bad request: {exc}").body()).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_DELETE = _serve

    def log_message(self, format, *args):
        logger.debug("emulator: " + format, *args)
