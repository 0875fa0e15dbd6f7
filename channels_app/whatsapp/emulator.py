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

import base64
import hashlib
import heapq
import hmac
import itertools
import json
import logging
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from channels_app.whatsapp import emulator_phone, window

logger = logging.getLogger(__name__)

REGISTER_WINDOW = 72 * 3600  # Meta: 10 register/deregister calls per number per 72 h
REGISTER_LIMIT = 10
TEMPLATE_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,511}$")
PLACEHOLDER_RE = re.compile(r"\{\{\s*([a-z0-9_]+)\s*\}\}")
# Meta's template languages.
LANGUAGES = frozenset(
    [
        "af", "ar", "bg", "ca", "cs", "da", "de", "el", "en", "en_GB", "en_US", "es", "es_AR",
        "es_ES", "es_MX", "et", "fa", "fi", "fil", "fr", "ga", "gu", "ha", "he", "hi", "hr", "hu",
        "id", "it", "ja", "ka", "kk", "kn", "ko", "lo", "lt", "lv", "mk", "ml", "mr", "ms", "nb",
        "nl", "pa", "pl", "pt_BR", "pt_PT", "ro", "ru", "rw_RW", "sk", "sl", "sq", "sr", "sv",
        "sw", "ta", "te", "th", "tr", "uk", "ur", "uz", "vi", "zh_CN", "zh_HK", "zh_TW", "zu"
    ]
)  # fmt: skip
SEND_TYPES = frozenset(
    [
        "text",
        "image",
        "audio",
        "video",
        "document",
        "sticker",
        "location",
        "contacts",
        "interactive",
        "template",
        "reaction",
    ]
)
MEDIA_LIMITS = {
    "image": ({"image/jpeg", "image/png"}, 5 * 2**20),
    "video": ({"video/mp4", "video/3gp"}, 16 * 2**20),
    "audio": ({"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"}, 16 * 2**20),
    "sticker": ({"image/webp"}, 500 * 2**10),
    "document": (
        {
            "text/plain",
            "application/pdf",
            "application/msword",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.ms-excel",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.ms-powerpoint",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        },
        100 * 2**20,
    ),
}
DEFAULT_MIME = {
    "image": "image/png",
    "sticker": "image/webp",
    "audio": "audio/ogg",
    "video": "video/mp4",
    "document": "application/pdf",
}
# A 1x1 PNG, the picture a customer sends when a demo injects an image.
TINY_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)

ERROR_TITLES = {
    0: "AuthException",
    4: "Too many calls",
    100: "Invalid parameter",
    190: "Access token has expired or is invalid",
    131000: "Something went wrong",
    131008: "Required parameter is missing",
    131009: "Parameter value is not valid",
    131016: "Service unavailable",
    131026: "Message undeliverable",
    131030: "Recipient phone number not in allowed list",
    131047: "Re-engagement message",
    131051: "Unsupported message type",
    130429: "Rate limit hit",
    132000: "Number of parameters does not match the expected number of params",
    132001: "Template name does not exist in the translation",
    133005: "Two step verification PIN Mismatch",
    133006: "Phone number needs to be verified before registering",
    133010: "Phone number not registered",
    133016: "Account register deregister rate limit exceeded",
    136024: "Request code error",
    136025: "Verify code error",
}
ASYNC_DETAILS = {
    131047: "Message failed to send because more than 24 hours have passed since the customer "
    "last replied to this number.",
    131026: "Message could not be delivered to the recipient.",
}


_RANK = {"accepted": 0, "sent": 1, "failed": 2, "delivered": 3, "read": 4}


class GraphError(Exception):
    def __init__(
        self,
        code: int,
        details: str = "",
        *,
        http: int = 400,
        subcode: int | None = None,
        user_msg: str = "",
    ):
        super().__init__(details)
        self.code, self.details, self.http, self.subcode, self.user_msg = (
            code,
            details,
            http,
            subcode,
            user_msg,
        )

    def body(self) -> dict:
        title = ERROR_TITLES.get(self.code, "Error")
        error = {
            "message": f"(#{self.code}) {title}",
            "type": "OAuthException",
            "code": self.code,
            "error_data": {"messaging_product": "whatsapp", "details": self.details or title},
            "fbtrace_id": secrets.token_urlsafe(16),
        }
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.user_msg:
            error["error_user_title"] = title
            error["error_user_msg"] = self.user_msg
        return {"error": error}


@dataclass
class EmulatorConfig:
    app_secret: str
    webhook_url: str
    # Each: phone_number_id, waba_id, display_phone_number, verified_name, token, registered.
    numbers: list[dict] = field(default_factory=list)
    verify_token: str = ""
    status_delay: float = 0.4  # seconds between sent, delivered and read
    auto_read: bool = True
    template_approval_delay: float = 5.0
    throughput_mps: int = 80  # Meta's default per-number throughput
    webhook_retry_delays: tuple[float, ...] = (1, 2, 4, 8, 16, 32, 64)
    code_ttl: int = 600  # DESIGN.md: a verification code is valid 10 minutes
    max_verify_attempts: int = 5
    max_code_requests_per_hour: int = 5
    # Test-only: keep the last issued code in clear so tests can read it. Off in demos.
    expose_codes: bool = False
    # Production answers 131047 asynchronously; "sync" mode answers HTTP 400 instead.
    window_error_sync: bool = False
    media_url_ttl: int = 300  # Meta: a media URL expires after 5 minutes
    undeliverable_numbers: frozenset[str] = frozenset()
    max_page_size: int = 1000  # tests lower it to exercise paging.next


@dataclass
class Number:
    phone_number_id: str
    waba_id: str
    display_phone_number: str
    verified_name: str
    registered: bool = True
    code_verification_status: str = "VERIFIED"
    pin: str = ""
    name_status: str = "APPROVED"
    new_name_status: str = "NONE"
    is_official_business_account: bool = False
    oba_request: dict | None = None
    requested_name: str = ""
    code_hash: str = ""
    code_expires: float = 0.0
    code_attempts: int = 0
    code_requests: list[float] = field(default_factory=list)
    register_calls: list[float] = field(default_factory=list)
    profile: dict = field(
        default_factory=lambda: {
            "about": "",
            "address": "",
            "description": "",
            "email": "",
            "websites": [],
            "vertical": "OTHER",
            "profile_picture_url": "",
        }
    )

    @property
    def digits(self) -> str:
        return re.sub(r"\D", "", self.display_phone_number)

    def as_graph(self) -> dict:
        return {
            "id": self.phone_number_id,
            "display_phone_number": self.display_phone_number,
            "verified_name": self.verified_name,
            "code_verification_status": self.code_verification_status,
            "name_status": self.name_status,
            "new_name_status": self.new_name_status,
            "quality_rating": "GREEN",
            "throughput": {"level": "STANDARD"},
            "whatsapp_business_manager_messaging_limit": "TIER_2K",
            "is_official_business_account": self.is_official_business_account,
            "platform_type": "CLOUD_API" if self.registered else "NOT_APPLICABLE",
            "status": "CONNECTED" if self.registered else "PENDING",
            "account_mode": "LIVE",
            "is_pin_enabled": bool(self.pin),
        }


class Emulator:
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

    def idle(self, timeout: float = 10.0) -> bool:
        """Wait until no webhook or review is scheduled (tests); False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._heap and not self._delivering:
                    return True
            time.sleep(0.02)
        return False

    def deliver_webhook(self, payload: dict, *, delay: float = 0.0) -> None:
        """Queue a signed POST of ``payload`` to the app, retried with backoff on non-2xx."""
        copies = max(2 if self.duplicate_webhooks else 1, self.webhook_copies)
        for _ in range(copies):
            jitter = secrets.randbelow(1001) / 1000 * self.webhook_jitter
            self._schedule(delay + jitter, lambda: self._start_post(payload, attempt=0))

    def _start_post(self, payload: dict, *, attempt: int) -> None:
        if not self.concurrent_webhooks:
            self._post_webhook(payload, attempt=attempt)
            return
        # Counted as delivering before the thread starts, so idle() cannot miss it.
        with self._lock:
            self._delivering += 1

        def post() -> None:
            try:
                self._post_webhook(payload, attempt=attempt)
            finally:
                with self._lock:
                    self._delivering -= 1

        threading.Thread(target=post, daemon=True, name="wa-emulator-webhook").start()

    def _post_webhook(self, payload: dict, *, attempt: int) -> None:
        # Meta signs an ASCII-escaped serialisation; sign exactly the bytes that are sent.
        body = json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode()
        signature = (
            "sha256=" + hmac.new(self.config.app_secret.encode(), body, hashlib.sha256).hexdigest()
        )
        with self._lock:
            if self._bad_signature_next > 0:
                self._bad_signature_next -= 1
                signature = "sha256=" + "0" * 64
            self._delivering += 1
        status = None
        try:
            response = httpx.post(
                self.config.webhook_url,
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "X-Hub-Signature-256": signature,
                    "User-Agent": "facebookexternalua",
                },
                timeout=10,
            )
            status = response.status_code
        except httpx.HTTPError as exc:
            logger.info("webhook delivery failed: %s", type(exc).__name__)
        finally:
            with self._lock:
                self._delivering -= 1
                self.webhooks_delivered.append(
                    {"payload": payload, "status": status, "attempt": attempt}
                )
        if status is not None and 200 <= status < 300:
            return
        delays = self.config.webhook_retry_delays
        if attempt < len(delays):
            self._schedule(
                delays[attempt], lambda: self._start_post(payload, attempt=attempt + 1)
            )
        else:
            with self._lock:
                self.webhooks_dropped += 1
            logger.warning("webhook dropped after %s attempts", attempt + 1)

    def _envelope(self, number: Number, value: dict, *, field_name: str = "messages") -> dict:
        if field_name == "messages":
            value = {
                "messaging_product": "whatsapp",
                "metadata": {
                    "display_phone_number": number.digits,
                    "phone_number_id": number.phone_number_id,
                },
                **value,
            }
        entry: dict = {"id": number.waba_id, "changes": [{"field": field_name, "value": value}]}
        if field_name != "messages":
            entry["time"] = int(self.now())
        return {"object": "whatsapp_business_account", "entry": [entry]}

    def _status_payload(self, sent: dict, status: str, error: tuple[int, str] | None) -> dict:
        number = self.numbers[sent["phone_number_id"]]
        item: dict = {
            "id": sent["wamid"],
            "status": status,
            "timestamp": str(int(self.now())),
            "recipient_id": sent["to"],
        }
        if sent.get("callback_data"):
            item["biz_opaque_callback_data"] = sent["callback_data"]
        if error:
            code, details = error
            item["errors"] = [
                {
                    "code": code,
                    "title": ERROR_TITLES.get(code, "Error"),
                    "message": ERROR_TITLES.get(code, "Error"),
                    "error_data": {"details": details or ASYNC_DETAILS.get(code, "")},
                    "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
                }
            ]
        else:
            item["pricing"] = {
                "billable": sent["type"] == "template",
                "pricing_model": "PMP",
                "type": "regular" if sent["type"] == "template" else "free_customer_service",
                "category": "utility" if sent["type"] == "template" else "service",
            }
        return self._envelope(number, {"statuses": [item]})

    def _emit_statuses(self, sent: dict, error: tuple[int, str] | None) -> None:
        steps: list[tuple[str, tuple[int, str] | None]]
        if error:
            steps = [("failed", error)]
        else:
            steps = [("sent", None), ("delivered", None)]
            if self.config.auto_read:
                steps.append(("read", None))
        if self.reorder_statuses:
            steps.reverse()
        for i, (status, err) in enumerate(steps, start=1):

            def job(status=status, err=err):
                # What the phone page shows: the furthest state reached, like the real app.
                if _RANK.get(status, 0) > _RANK.get(sent["status"], 0):
                    sent["status"] = status
                    if err:
                        sent["error"] = f"{ERROR_TITLES.get(err[0], 'Error')} ({err[0]})"
                self.deliver_webhook(self._status_payload(sent, status, err))

            self._schedule(self.config.status_delay * i, job)

    # --- customer side -----------------------------------------------------------------------
    def inject(
        self,
        phone_number_id: str,
        *,
        wa_id: str,
        name: str = "",
        type: str = "text",
        text: str = "",
        message: dict | None = None,
        reply_to: str = "",
        at: float | None = None,
        media: tuple[bytes, str, str] | None = None,
    ) -> str:
        """A customer writes to a business number: records it, opens the 24 h window, and
        delivers the inbound webhook. Returns the new wamid. ``message`` adds/overrides fields;
        ``media`` is the (content, MIME type, file name) a customer attaches (default: a tiny
        picture)."""
        media_id = ""
        with self._lock:
            number = self._number(phone_number_id)
            if not re.fullmatch(r"\d{7,15}", wa_id):
                raise GraphError(100, "wa_id must be 7-15 digits")
            timestamp = int(at if at is not None else self.now())
            wamid = _wamid()
            item: dict = {"from": wa_id, "id": wamid, "timestamp": str(timestamp), "type": type}
            if type == "text":
                item["text"] = {"body": text}
            elif type in MEDIA_LIMITS:
                content, mime, filename = media or (TINY_PNG, DEFAULT_MIME[type], f"{type}.bin")
                if _media_kind(mime, content) != type:
                    raise GraphError(131053, f"{mime} of {len(content)} bytes is no {type}")
                media_id = self._store_media(content, mime, filename, phone_number_id)
                item[type] = {
                    "id": media_id,
                    "mime_type": mime,
                    "sha256": self.media[media_id]["sha256"],
                }
                if type == "document":
                    item[type]["filename"] = filename
                if text and type in ("image", "video", "document"):
                    item[type]["caption"] = text
            elif type == "location":
                item["location"] = {"latitude": 52.52, "longitude": 13.405, "name": text or "Pin"}
            if reply_to:
                item["context"] = {"from": number.digits, "id": reply_to}
            item.update(message or {})
            # Meta: every inbound message (re)opens the customer service window.
            self.last_inbound[(phone_number_id, wa_id)] = max(
                timestamp, self.last_inbound.get((phone_number_id, wa_id), 0)
            )
            self.chats.setdefault((phone_number_id, wa_id), []).append(
                {
                    "direction": "in",
                    "wamid": wamid,
                    "type": type,
                    "text": text,
                    "timestamp": timestamp,
                    "status": "sent",
                    "media_id": media_id,
                }
            )
            self.contact_names[(phone_number_id, wa_id)] = name or "Customer"
            contact = {"profile": {"name": name or "Customer"}, "wa_id": wa_id}
            payload = self._envelope(number, {"contacts": [contact], "messages": [item]})
        self.deliver_webhook(payload)
        return wamid

    def echo_from_app(
        self, phone_number_id: str, *, to: str, text: str = "", message: dict | None = None
    ) -> str:
        """The business writes to ``to`` from the WhatsApp Business app on the same number
        (coexistence): Meta's ``smb_message_echoes`` webhook. ``message`` adds/overrides fields
        (an ``edit`` or ``revoke`` object). Returns the new wamid."""
        with self._lock:
            number = self._number(phone_number_id)
            wamid = _wamid()
            item: dict = {"from": number.digits, "to": to, "id": wamid,
                          "timestamp": str(int(self.now())), "type": "text",
                          "text": {"body": text}}  # fmt: skip
            item.update(message or {})
            sent = {"direction": "out", "wamid": wamid, "type": item["type"], "text": text,
                    "timestamp": int(self.now()), "status": "sent"}  # fmt: skip
            self.chats.setdefault((phone_number_id, to), []).append(sent)
            metadata = {"display_phone_number": number.digits, "phone_number_id": phone_number_id}
            value = {"messaging_product": "whatsapp", "metadata": metadata}
            value["message_echoes"] = [item]
            payload = self._envelope(number, value, field_name="smb_message_echoes")
        self.deliver_webhook(payload)
        return wamid

    def chat(self, phone_number_id: str, wa_id: str) -> list[dict]:
        with self._lock:
            return [dict(m) for m in self.chats.get((phone_number_id, wa_id), [])]

    def learn_chat(
        self,
        phone_number_id: str,
        wa_id: str,
        *,
        name: str,
        messages: list[dict],
        last_inbound: float | None = None,
    ) -> None:
        """Take over a conversation the desk already holds (``--seed-from-db``), as if it had
        passed through here: its messages (``direction``, ``wamid``, ``type``, ``text``,
        ``timestamp``, ``status``) for the phone page, and the customer's latest message time
        (``last_inbound``, else the latest inbound one given), which opens the 24-hour window
        exactly as the desk computes it."""
        with self._lock:
            key = (str(phone_number_id), str(wa_id))
            known = {m["wamid"] for m in self.chats.get(key, [])}
            chat = self.chats.setdefault(key, [])
            chat.extend(dict(m) for m in messages if m["wamid"] not in known)
            chat.sort(key=lambda m: m["timestamp"])
            self.contact_names[key] = name or self.contact_names.get(key, "") or "Customer"
            inbound = [m["timestamp"] for m in messages if m["direction"] == "in"]
            inbound += [last_inbound] if last_inbound is not None else []
            if inbound:
                self.last_inbound[key] = max(max(inbound), self.last_inbound.get(key, 0))

    def device_messages(self, phone_number_id: str) -> list[dict]:
        """What the business number's own phone received (verification SMS, voice calls)."""
        with self._lock:
            return [dict(m) for m in self._device.get(phone_number_id, [])]

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

    # --- messages ------------------------------------------------------------------------------
    def _messages(self, pnid: str, data: dict) -> dict:
        if self.send_delay:
            time.sleep(self.send_delay)  # outside the lock: other requests go on meanwhile
        with self._lock:
            if self._http_errors:
                status = self._http_errors.popleft()
                code = 130429 if status == 429 else 131000
                raise GraphError(code, "Injected failure", http=status)
            if time.monotonic() < self._http_errors_until:
                cycle = self._http_errors_cycle
                status = cycle[self._http_errors_served % len(cycle)]
                self._http_errors_served += 1
                code = 130429 if status == 429 else 131000
                raise GraphError(code, "Injected outage", http=status)
            number = self._number(pnid)
            if not number.registered:
                raise GraphError(133010, "Phone number is not registered on the Cloud API")
            if data.get("messaging_product") != "whatsapp":
                raise GraphError(100, "messaging_product must be whatsapp")
            if data.get("status") == "read":
                if not isinstance(data.get("message_id"), str):
                    raise GraphError(100, "message_id is required")
                for chat in self.chats.values():
                    for m in chat:
                        if m["wamid"] == data["message_id"]:
                            m["status"] = "read"
                return {"success": True}
            recent = self._recent_sends.setdefault(pnid, deque())
            now_mono = time.monotonic()
            while recent and recent[0] < now_mono - 1:
                recent.popleft()
            if len(recent) >= self.config.throughput_mps:
                raise GraphError(130429, "Message throughput limit reached for this number.")
            recent.append(now_mono)
            to_raw = data.get("to")
            to = re.sub(r"[\s+\-()]", "", to_raw) if isinstance(to_raw, str) else ""
            if not re.fullmatch(r"\d{7,15}", to):
                raise GraphError(131009, "to must be a phone number of 7 to 15 digits")
            kind = data.get("type", "text")
            if kind not in SEND_TYPES:
                raise GraphError(131009, f"type {kind!r} is not supported")
            if not isinstance(data.get(kind), dict) and kind != "contacts":
                raise GraphError(131008, f"{kind} object is required")
            text = self._validate_send(number, kind, data)
            callback = data.get("biz_opaque_callback_data")
            if callback is not None and (not isinstance(callback, str) or len(callback) > 512):
                raise GraphError(131009, "biz_opaque_callback_data must be text of at most 512")
            forced = self._fail_next.popleft() if self._fail_next else None
            if forced and forced[1] == "sync":
                raise GraphError(forced[0], "Injected failure")
            error: tuple[int, str] | None = (forced[0], "Injected failure") if forced else None
            last_in = window.from_timestamp(self.last_inbound.get((pnid, to)))
            if (
                error is None
                and kind != "template"
                and not window.is_open(last_in, window.from_timestamp(self.now()))
            ):
                if self.config.window_error_sync:
                    raise GraphError(131047, ASYNC_DETAILS[131047])
                error = (131047, ASYNC_DETAILS[131047])
            if error is None and to in self.config.undeliverable_numbers:
                error = (131026, ASYNC_DETAILS[131026])
            sent = {
                "direction": "out",
                "wamid": _wamid(),
                "phone_number_id": pnid,
                "to": to,
                "type": kind,
                "text": text,
                "callback_data": callback or "",
                "context": (data.get("context") or {}).get("message_id", ""),
                "request": data,
                "status": "accepted",
                "timestamp": int(self.now()),
            }
            self.sent.append(sent)
            self.chats.setdefault((pnid, to), []).append(sent)
        self._emit_statuses(sent, error)
        response: dict = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to_raw, "wa_id": to}],
            "messages": [{"id": sent["wamid"]}],
        }
        if kind == "template":
            response["messages"][0]["message_status"] = "accepted"
        return response

    def _validate_send(self, number: Number, kind: str, data: dict) -> str:
        obj = data.get(kind)
        if kind == "text":
            body = obj.get("body")
            if not isinstance(body, str) or not body.strip():
                raise GraphError(131008, "text.body is required")
            if len(body) > 4096:
                raise GraphError(131009, "text.body is longer than 4096 characters")
            return body
        if kind in MEDIA_LIMITS:
            if bool(obj.get("id")) == bool(obj.get("link")):
                raise GraphError(131009, f"{kind} needs exactly one of id and link")
            if obj.get("id") and obj["id"] not in self.media:
                raise GraphError(131009, "media id does not exist")
            caption = obj.get("caption")
            if caption is not None and (
                kind not in ("image", "video", "document") or len(str(caption)) > 1024
            ):
                raise GraphError(131009, "caption is not allowed here or too long")
            if obj.get("filename") is not None and kind != "document":
                raise GraphError(131009, "filename is only allowed on documents")
            return str(caption or f"[{kind}]")
        if kind == "template":
            return self._validate_template_send(number, obj)
        if kind == "reaction":
            if not isinstance(obj.get("message_id"), str):
                raise GraphError(131008, "reaction.message_id is required")
            return str(obj.get("emoji") or "")
        if kind == "interactive":
            if obj.get("type") not in (
                "button",
                "list",
                "cta_url",
                "flow",
                "product",
                "product_list",
                "location_request_message",
            ):
                raise GraphError(131009, "interactive.type is not valid")
            body = (obj.get("body") or {}).get("text", "")
            if not body or len(body) > 1024:
                raise GraphError(131009, "interactive.body.text is required (at most 1024)")
            buttons = (obj.get("action") or {}).get("buttons")
            if obj["type"] == "button" and not (
                isinstance(buttons, list) and 1 <= len(buttons) <= 3
            ):
                raise GraphError(131009, "a button message has 1 to 3 buttons")
            return body
        if kind == "location":
            if not all(isinstance(obj.get(k), int | float) for k in ("latitude", "longitude")):
                raise GraphError(131009, "location needs latitude and longitude")
            return str(obj.get("name") or "[location]")
        return f"[{kind}]"

    def _validate_template_send(self, number: Number, obj: dict) -> str:
        name = obj.get("name")
        language = (
            (obj.get("language") or {}).get("code")
            if isinstance(obj.get("language"), dict)
            else None
        )
        template = self.templates.get(number.waba_id, {}).get((name, language))
        if template is None or template["status"] not in ("APPROVED", "FLAGGED"):
            code = {"PAUSED": 132015, "DISABLED": 132016}.get(
                (template or {}).get("status"), 132001
            )
            raise GraphError(
                code,
                f"template name ({name}) does not exist in {language} or is not approved",
                http=404 if code == 132001 else 400,
            )
        body_text = next(
            (
                c.get("text", "")
                for c in template["components"]
                if str(c.get("type")).upper() == "BODY"
            ),
            "",
        )
        expected = len(set(PLACEHOLDER_RE.findall(body_text)))
        given: list = []
        for component in obj.get("components") or []:
            if isinstance(component, dict) and component.get("type") == "body":
                given = component.get("parameters") or []
        if len(given) != expected:
            raise GraphError(132000, f"body expects {expected} parameters, received {len(given)}")
        values = [str(p.get("text", "")) if isinstance(p, dict) else "" for p in given]
        return PLACEHOLDER_RE.sub(
            lambda m: (
                values[int(m.group(1)) - 1]
                if m.group(1).isdigit() and 0 < int(m.group(1)) <= len(values)
                else m.group(0)
            ),
            body_text,
        )

    # --- media -------------------------------------------------------------------------------
    def _store_media(self, content: bytes, mime: str, filename: str, pnid: str) -> str:
        media_id = str(1043820517000000 + next(self._ids))
        self.media[media_id] = {
            "content": content,
            "mime_type": mime,
            "filename": filename,
            "sha256": base64.b64encode(hashlib.sha256(content).digest()).decode(),
            "phone_number_id": pnid,
            "created": self.now(),
        }
        return media_id

    def _upload(self, pnid: str, headers, body: bytes) -> dict:
        self._number(pnid)
        ctype = headers.get("Content-Type", "")
        if not ctype.startswith("multipart/form-data"):
            raise GraphError(100, "upload must be multipart/form-data")
        message = BytesParser(policy=policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body
        )
        fields: dict[str, str] = {}
        file_part = None
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name == "file":
                file_part = part
            elif name:
                fields[name] = part.get_content().strip()
        if fields.get("messaging_product") != "whatsapp" or file_part is None:
            raise GraphError(100, "messaging_product=whatsapp and file are required")
        mime = fields.get("type") or file_part.get_content_type()
        content = file_part.get_payload(decode=True) or b""
        if _media_kind(mime, content) is None:
            raise GraphError(131053, f"Unsupported media type {mime} or larger than allowed")
        with self._lock:
            return {"id": self._store_media(content, mime, file_part.get_filename() or "", pnid)}

    def _media_signature(self, media_id: str, expires: int) -> str:
        return hmac.new(self._code_salt, f"{media_id}:{expires}".encode(), "sha256").hexdigest()

    def _download(self, query: dict, headers, media_id: str) -> tuple[int, str, bytes]:
        self._authenticate(headers, {})
        media = self.media.get(media_id)
        expires = int(query.get("exp", "0")) if query.get("exp", "").isdigit() else 0
        if (
            media is None
            or not hmac.compare_digest(
                self._media_signature(media_id, expires), query.get("sig", "")
            )
            or self.now() > expires
        ):
            raise GraphError(100, "media URL expired or invalid", http=404)
        return 200, media["mime_type"], media["content"]

    # --- graph objects by id -----------------------------------------------------------------
    def _object(self, method: str, obj_id: str, query: dict, body: bytes):
        with self._lock:
            if obj_id in self.media:
                if method == "DELETE":
                    del self.media[obj_id]
                    return {"success": True}
                media = self.media[obj_id]
                expires = int(self.now()) + self.config.media_url_ttl
                url = f"{self._base_url}/_emulator/media/{obj_id}?" + urlencode(
                    {"exp": expires, "sig": self._media_signature(obj_id, expires)}
                )
                return {
                    "messaging_product": "whatsapp",
                    "url": url,
                    "mime_type": media["mime_type"],
                    "sha256": media["sha256"],
                    "file_size": len(media["content"]),
                    "id": obj_id,
                }
            if obj_id in self.numbers:
                number = self.numbers[obj_id]
                if method == "GET":
                    return _fields(number.as_graph(), query.get("fields"))
                if method == "POST":
                    data = self._json(body)
                    if "pin" in data:
                        if not re.fullmatch(r"\d{6}", str(data["pin"])):
                            raise GraphError(100, "pin must be 6 digits")
                        number.pin = str(data["pin"])
                    if "new_display_name" in data:
                        number.new_name_status = "PENDING_REVIEW"
                        number.requested_name = str(data["new_display_name"])
                    return {"success": True}
            for templates in self.templates.values():
                for template in templates.values():
                    if template["id"] == obj_id:
                        if method == "GET":
                            return _fields(template, query.get("fields"))
                        if method == "POST":
                            data = self._json(body)
                            if "components" in data:
                                self._check_components(data["components"])
                                template["components"] = data["components"]
                                template["status"] = "PENDING"
                                self._schedule_review(templates, template)
                            return {"success": True}
        raise GraphError(100, f"Object with ID '{obj_id}' does not exist")

    # --- templates ---------------------------------------------------------------------------
    def _templates(self, method: str, waba_id: str, query: dict, data: dict):
        with self._lock:
            if waba_id not in self.templates:
                raise GraphError(100, f"Object with ID '{waba_id}' does not exist")
            templates = self.templates[waba_id]
            if method == "GET":
                items = [
                    t
                    for t in templates.values()
                    if all(
                        query.get(k) in (None, "", t[k])
                        for k in ("name", "status", "category", "language")
                    )
                ]
                items.sort(key=lambda t: (t["name"], t["language"]))
                limit = int(query["limit"]) if query.get("limit", "").isdigit() else 25
                limit = max(1, min(limit, self.config.max_page_size))
                offset = _cursor(query.get("after"))
                page = items[offset : offset + limit]
                wanted = query.get("fields")
                result: dict = {
                    "data": [_fields(t, wanted) for t in page],
                    "paging": {
                        "cursors": {
                            "before": _encode_cursor(offset),
                            "after": _encode_cursor(offset + len(page)),
                        }
                    },
                }
                if offset + limit < len(items):
                    next_query = {**query, "after": _encode_cursor(offset + limit)}
                    next_query.pop("access_token", None)
                    result["paging"]["next"] = (
                        f"{self.graph_url}/{waba_id}/message_templates?{urlencode(next_query)}"
                    )
                return result
            if method == "DELETE":
                name = query.get("name")
                doomed = [
                    k
                    for k, t in templates.items()
                    if k[0] == name and query.get("hsm_id") in (None, "", t["id"])
                ]
                if not doomed:
                    raise GraphError(100, "template not found")
                for key in doomed:
                    del templates[key]
                return {"success": True}
            return self._create_template(templates, data)

    def _create_template(self, templates: dict, data: dict) -> dict:
        name, language = data.get("name"), data.get("language")
        if not isinstance(name, str) or not TEMPLATE_NAME_RE.fullmatch(name):
            raise GraphError(
                100,
                "invalid name",
                subcode=2388001,
                user_msg=("The name may contain only lowercase letters, numbers and underscores."),
            )
        if language not in LANGUAGES:
            raise GraphError(
                100,
                "invalid language",
                subcode=2388002,
                user_msg=f"Language {language!r} is not supported.",
            )
        category = data.get("category")
        if category not in ("MARKETING", "UTILITY", "AUTHENTICATION"):
            raise GraphError(
                100,
                "invalid category",
                subcode=2388003,
                user_msg="Category must be MARKETING, UTILITY or AUTHENTICATION.",
            )
        if (name, language) in templates:
            raise GraphError(
                100,
                "template exists",
                subcode=2388024,
                user_msg="A template with this name and language already exists.",
            )
        components = data.get("components")
        self._check_components(components)
        template = {
            "id": str(778899000000000 + next(self._ids)),
            "name": name,
            "language": language,
            "status": "PENDING",
            "category": category,
            "parameter_format": data.get("parameter_format") or "POSITIONAL",
            "components": components,
            "rejected_reason": "NONE",
            "quality_score": {"score": "UNKNOWN", "date": int(self.now())},
        }
        templates[(name, language)] = template
        self._schedule_review(templates, template)
        return {"id": template["id"], "status": "PENDING", "category": category}

    def _check_components(self, components) -> None:
        if not isinstance(components, list) or not all(isinstance(c, dict) for c in components):
            raise GraphError(100, "components must be a list", subcode=2388047)
        kinds = [str(c.get("type", "")).upper() for c in components]
        if kinds.count("BODY") != 1 or any(kinds.count(k) > 1 for k in set(kinds)):
            raise GraphError(
                100,
                "exactly one BODY and at most one of each component",
                subcode=2388047,
                user_msg="A template needs exactly one body.",
            )
        for component in components:
            kind = str(component.get("type")).upper()
            text = component.get("text", "")
            if kind == "BODY":
                if not isinstance(text, str) or not text.strip() or len(text) > 1024:
                    raise GraphError(
                        100,
                        "body text",
                        subcode=2388040,
                        user_msg="The body must have 1 to 1024 characters.",
                    )
                numbers = [int(v) for v in PLACEHOLDER_RE.findall(text) if v.isdigit()]
                if sorted(set(numbers)) != list(range(1, len(set(numbers)) + 1)):
                    raise GraphError(
                        100,
                        "placeholders",
                        subcode=2388047,
                        user_msg="Placeholders must be numbered {{1}}, {{2}}… without gaps.",
                    )
                stripped = text.strip()
                if numbers and (stripped.startswith("{{") or stripped.endswith("}}")):
                    raise GraphError(
                        100,
                        "leading/trailing variable",
                        subcode=2388299,
                        user_msg="The body may not start or end with a variable.",
                    )
                if numbers and not (component.get("example") or {}).get("body_text"):
                    raise GraphError(
                        100,
                        "examples",
                        subcode=2388047,
                        user_msg="Every variable needs an example.",
                    )
            elif kind in ("HEADER", "FOOTER") and isinstance(text, str) and len(text) > 60:
                raise GraphError(
                    100,
                    f"{kind.lower()} too long",
                    subcode=2388040,
                    user_msg=f"The {kind.lower()} may have at most 60 characters.",
                )

    def _schedule_review(self, templates: dict, template: dict) -> None:
        # Demo hook: a name starting with "reject" is rejected, everything else approved.
        status = "REJECTED" if template["name"].startswith("reject") else "APPROVED"
        reason = "INVALID_FORMAT" if status == "REJECTED" else "NONE"
        key = (template["name"], template["language"])

        def review():
            if templates.get(key) is template and template["status"] == "PENDING":
                self.decide_template(template["id"], status, reason=reason)

        self._schedule(self.config.template_approval_delay, review)

    def decide_template(self, template_id: str, status: str, *, reason: str = "NONE") -> None:
        """Meta's review: set a template's status and send message_template_status_update."""
        with self._lock:
            found = [
                (waba, t)
                for waba, ts in self.templates.items()
                for t in ts.values()
                if t["id"] == str(template_id)
            ]
            if not found:
                raise GraphError(100, "template not found")
            waba_id, template = found[0]
            template["status"] = status
            template["rejected_reason"] = reason if status == "REJECTED" else "NONE"
            number = next((n for n in self.numbers.values() if n.waba_id == waba_id), None)
        if number is None:
            return
        value = {
            "event": status,
            "message_template_id": int(template["id"]),
            "message_template_name": template["name"],
            "message_template_language": template["language"],
            "message_template_category": template["category"],
            "reason": reason if status == "REJECTED" else "NONE",
        }
        if status == "REJECTED" and reason == "INVALID_FORMAT":
            value["rejection_info"] = {
                "reason": "The template format is not valid.",
                "recommendation": "Check the placeholders.",
            }
        self.deliver_webhook(
            self._envelope(number, value, field_name="message_template_status_update")
        )

    # --- phone numbers and onboarding --------------------------------------------------------
    def _phone_numbers(self, method: str, waba_id: str, data: dict):
        with self._lock:
            if waba_id not in self.templates:
                raise GraphError(100, f"Object with ID '{waba_id}' does not exist")
            if method == "GET":
                numbers = [n.as_graph() for n in self.numbers.values() if n.waba_id == waba_id]
                return {"data": numbers, "paging": {"cursors": {"before": "", "after": ""}}}
            cc, phone, name = data.get("cc"), data.get("phone_number"), data.get("verified_name")
            if not (
                isinstance(cc, str)
                and cc.isdigit()
                and isinstance(phone, str)
                and phone.isdigit()
                and 4 <= len(cc + phone) <= 15
            ):
                raise GraphError(100, "cc and phone_number must be digits")
            if not isinstance(name, str) or len(name.strip()) < 3:
                raise GraphError(100, "verified_name needs at least 3 characters")
            pnid = str(109876543000000 + next(self._ids))
            number = self.add_number(
                phone_number_id=pnid,
                waba_id=waba_id,
                display_phone_number=f"+{cc} {phone}",
                verified_name=name,
                registered=False,
            )
            number.name_status = "PENDING_REVIEW"
            return {"id": pnid}

    def _request_code(self, number: Number, data: dict) -> dict:
        if data.get("code_method") not in ("SMS", "VOICE"):
            raise GraphError(100, "code_method must be SMS or VOICE")
        if not isinstance(data.get("language", "en_US"), str):
            raise GraphError(100, "language must be a locale")
        with self._lock:
            now = self.now()
            number.code_requests = [t for t in number.code_requests if now - t < 3600]
            if len(number.code_requests) >= self.config.max_code_requests_per_hour:
                raise GraphError(136024, "Too many code requests. Wait before trying again.")
            number.code_requests.append(now)
            code = f"{secrets.randbelow(10**6):06d}"
            # Only a salted hash is kept; the clear code exists only in the test-only side channel.
            number.code_hash = self._hash_code(code)
            number.code_expires = now + self.config.code_ttl
            number.code_attempts = 0
            if self.config.expose_codes:
                self._issued_codes[number.phone_number_id] = code
            # The phone behind the number gets the code, as a real one would: the SMS text, or
            # the digits a voice call reads out. Only that phone (the phone page) shows it.
            self._device.setdefault(number.phone_number_id, []).append(
                {
                    "kind": data["code_method"].lower(),
                    "text": (
                        f"Your WhatsApp Business code is {code[:3]}-{code[3:]}. Don't share it."
                        if data["code_method"] == "SMS"
                        else f"Automated call: your WhatsApp code is {' '.join(code)}."
                    ),
                    "timestamp": int(now),
                }
            )
        return {"success": True}

    def _hash_code(self, code: str) -> str:
        return hashlib.sha256(self._code_salt + code.encode()).hexdigest()

    def _verify_code(self, number: Number, data: dict) -> dict:
        code = str(data.get("code", ""))
        with self._lock:
            if not number.code_hash:
                raise GraphError(136025, "No code was requested for this number.")
            if self.now() > number.code_expires:
                number.code_hash = ""
                raise GraphError(136025, "The code has expired. Request a new one.")
            if number.code_attempts >= self.config.max_verify_attempts:
                number.code_hash = ""
                raise GraphError(136025, "Too many attempts. Request a new code.")
            number.code_attempts += 1
            if not (
                re.fullmatch(r"\d{6}", code)
                and hmac.compare_digest(self._hash_code(code), number.code_hash)
            ):
                raise GraphError(136025, "The code is not correct.")
            number.code_hash = ""
            number.code_verification_status = "VERIFIED"
        return {"success": True}

    def _registration_call(self, number: Number) -> None:
        now = self.now()
        number.register_calls = [t for t in number.register_calls if now - t < REGISTER_WINDOW]
        if len(number.register_calls) >= REGISTER_LIMIT:
            raise GraphError(
                133016, "More than 10 register calls in 72 hours; blocked for 72 hours"
            )
        number.register_calls.append(now)

    def _register(self, number: Number, data: dict) -> dict:
        pin = str(data.get("pin", ""))
        if data.get("messaging_product") != "whatsapp" or not re.fullmatch(r"\d{6}", pin):
            raise GraphError(100, "messaging_product and a 6-digit pin are required")
        with self._lock:
            self._registration_call(number)
            if number.code_verification_status != "VERIFIED":
                raise GraphError(133006, "Verify the phone number before registering it.")
            if number.pin and not hmac.compare_digest(number.pin, pin):
                raise GraphError(133005, "The two-step verification PIN does not match.")
            number.pin = pin
            number.registered = True
        return {"success": True}

    def _deregister(self, number: Number, data: dict) -> dict:
        with self._lock:
            self._registration_call(number)
            number.registered = False
        return {"success": True}

    def _profile(self, method: str, pnid: str, data: dict):
        with self._lock:
            number = self._number(pnid)
            if method == "GET":
                return {"data": [{"messaging_product": "whatsapp", **number.profile}]}
            limits = {"about": 139, "address": 256, "description": 512, "email": 128}
            for key, limit in limits.items():
                if key in data and (not isinstance(data[key], str) or len(data[key]) > limit):
                    raise GraphError(100, f"{key} must be text of at most {limit} characters")
            if "about" in data and not data["about"]:
                raise GraphError(100, "about must have 1 to 139 characters")
            websites = data.get("websites", [])
            if (
                not isinstance(websites, list)
                or len(websites) > 2
                or not all(
                    isinstance(w, str) and re.match(r"^https?://", w) and len(w) <= 256
                    for w in websites
                )
            ):
                raise GraphError(100, "websites: at most 2 http(s) URLs of at most 256")
            for key in (*limits, "websites", "vertical"):
                if key in data:
                    number.profile[key] = data[key]
            if "profile_picture_handle" in data:
                number.profile["profile_picture_url"] = (
                    f"{self._base_url}/_emulator/profile/{pnid}.png"
                )
            return {"success": True}

    # --- control API and the customer phone --------------------------------------------------
    def _handle_control(self, method, path, query, headers, body) -> tuple[int, str, bytes]:
        def ok(data) -> tuple[int, str, bytes]:
            return 200, "application/json", json.dumps(data).encode()

        if path.startswith("/_emulator/media/") and method == "GET":
            return self._download(query, headers, path.rsplit("/", 1)[-1])
        phone = emulator_phone.handle(self, method, path, query, body)
        if phone is not None:
            return phone
        if path == "/_emulator/api/numbers" and method == "GET":
            return ok(
                [
                    {
                        "phone_number_id": n.phone_number_id,
                        "display": n.display_phone_number,
                        "name": n.verified_name,
                        "registered": n.registered,
                    }
                    for n in self.numbers.values()
                ]
            )
        if path == "/_emulator/api/stats" and method == "GET":
            return ok(self.stats())
        if path == "/_emulator/api/sent" and method == "GET":
            return ok([{k: v for k, v in s.items() if k != "request"} for s in self.sends()])
        if path == "/_emulator/api/last-code" and method == "GET":
            try:
                return ok({"code": self.last_code(query.get("phone_number_id", ""))})
            except PermissionError as exc:
                raise GraphError(10, str(exc), http=403) from exc
        if method != "POST":
            raise GraphError(100, "Unknown emulator path", http=404)
        data = self._json(body)
        if path == "/_emulator/api/inject":
            wamid = self.inject(
                str(data.get("phone_number_id", "")),
                wa_id=str(data.get("from", "")),
                name=str(data.get("name", "")),
                type=str(data.get("type", "text")),
                text=str(data.get("text", "")),
                reply_to=str(data.get("reply_to", "")),
            )
            return ok({"id": wamid})
        if path == "/_emulator/api/clock":
            self.advance_clock(float(data.get("advance", 0)))
            return ok({"now": self.now()})
        if path == "/_emulator/api/fail-next":
            self.fail_next_send(
                int(data["code"]), mode=data.get("mode", "sync"), count=int(data.get("count", 1))
            )
            return ok({"success": True})
        if path == "/_emulator/api/http-errors":
            if "seconds" in data:
                statuses = data.get("statuses") or [data.get("status", 500)]
                self.http_errors_for(float(data["seconds"]), tuple(int(s) for s in statuses))
            else:
                self.http_errors(int(data["status"]), int(data.get("count", 1)))
            return ok({"success": True})
        if path == "/_emulator/api/switches":
            self.duplicate_webhooks = bool(data.get("duplicate_webhooks", self.duplicate_webhooks))
            self.reorder_statuses = bool(data.get("reorder_statuses", self.reorder_statuses))
            if data.get("bad_signature_next"):
                self.bad_signature_next(int(data["bad_signature_next"]))
            if data.get("reset"):
                self.reset_switches()
            with self._lock:
                self.webhook_copies = max(1, int(data.get("webhook_copies", self.webhook_copies)))
                self.webhook_jitter = float(data.get("webhook_jitter", self.webhook_jitter))
                self.concurrent_webhooks = bool(
                    data.get("concurrent_webhooks", self.concurrent_webhooks)
                )
                self.send_delay = float(data.get("send_delay", self.send_delay))
            return ok(
                {
                    "duplicate_webhooks": self.duplicate_webhooks,
                    "reorder_statuses": self.reorder_statuses,
                    "webhook_copies": self.webhook_copies,
                    "webhook_jitter": self.webhook_jitter,
                    "concurrent_webhooks": self.concurrent_webhooks,
                    "send_delay": self.send_delay,
                }
            )
        if path == "/_emulator/api/templates/decide":
            self.decide_template(
                str(data["id"]), str(data["status"]), reason=str(data.get("reason", "NONE"))
            )
            return ok({"success": True})
        raise GraphError(100, "Unknown emulator path", http=404)


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


def _media_kind(mime: str, content: bytes) -> str | None:
    """The message type a file of this MIME type and size may be sent as (None: refused)."""
    for kind, (types, limit) in MEDIA_LIMITS.items():
        if mime in types and len(content) <= limit:
            return kind
    return None


def _wamid() -> str:
    return "wamid." + base64.b64encode(secrets.token_bytes(27)).decode()


def _fields(obj: dict, wanted: str | None) -> dict:
    if not wanted:
        return dict(obj)
    keys = {k.strip() for k in wanted.split(",")} | {"id"}
    return {k: v for k, v in obj.items() if k in keys}


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode()


def _cursor(value: str | None) -> int:
    try:
        return max(0, int(base64.urlsafe_b64decode((value or "MA==").encode()).decode()))
    except ValueError:
        return 0

