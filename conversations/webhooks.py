"""The WhatsApp webhook endpoint: verify, parse, store, enqueue — and answer fast.

GET is Meta's verification handshake. POST bodies are read up to ``WEBHOOK_MAX_BODY_BYTES``
(larger: 413 from Content-Length, before a byte is read), authenticated by the
X-Hub-Signature-256 HMAC over the raw bytes (bad or missing: 403, nothing stored), and checked
as an envelope (not JSON, no ``entry`` list: 400 with the reason). Below the envelope every
message and status is read on its own (``channels_app.whatsapp.webhooks``): one that cannot be
read is stored as an unreadable message or logged, never costing the rest of the batch.

A batch of at most ``WEBHOOK_INLINE_MAX_ITEMS`` items is applied in the request (one statement
for a single inbound message on PostgreSQL, else one transaction). A larger one is stored as
received (``InboundPayload``) and applied by the worker in chunks
(``conversations.inbound_payloads``), so the answer never waits for it. Inbound messages are
deduplicated by their wamid in ``services.receive_inbound``; statuses only move a delivery state
upwards. Media downloads are enqueued after commit. Unknown numbers are logged and acknowledged
(200) so Meta stops retrying. See docs/whatsapp.md.
"""

from __future__ import annotations

import hmac
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from channels_app.whatsapp import webhooks
from conversations.services import inbound_events, inbound_payloads

logger = logging.getLogger(__name__)


class BodyTooLarge(Exception):
    pass


# Meta cannot send a CSRF token; this view authenticates every POST by its HMAC signature instead,
# which is the only reason it is exempt.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def whatsapp_webhook(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _handshake(request)
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    try:
        raw = read_body(request, limit)
    except BodyTooLarge as exc:
        logger.warning("webhook body refused: %s (limit %d bytes)", exc, limit)
        return HttpResponse(
            f"body larger than {limit} bytes", status=413, content_type="text/plain"
        )
    if not webhooks.verify_signature(
        raw, request.headers.get(webhooks.SIGNATURE_HEADER), settings.WHATSAPP_APP_SECRET
    ):
        logger.warning("webhook with a missing or wrong signature refused")
        return HttpResponse("invalid signature", status=403, content_type="text/plain")
    try:
        data = webhooks.load(raw)
    except webhooks.MalformedPayload as exc:
        logger.warning("malformed webhook refused: %s", exc.reason)
        return HttpResponse(exc.reason, status=400, content_type="text/plain")
    if webhooks.count_items(data) > settings.WEBHOOK_INLINE_MAX_ITEMS:
        payload = inbound_payloads.store_payload(raw, now=timezone.now())
        return JsonResponse({"stored": 1, "payload": payload.pk})
    return JsonResponse(dict(inbound_events.process_events(webhooks.events_of(data))))


def read_body(request: HttpRequest, limit: int) -> bytes:
    """The raw body, at most ``limit`` bytes, without Django's DATA_UPLOAD_MAX_MEMORY_SIZE (which
    stays in force everywhere else). A Content-Length over the limit is refused before anything
    is read; a body without one (chunked, decoded by the WSGI server) is read up to the limit."""
    length = request.META.get("CONTENT_LENGTH")
    if length:
        try:
            size = int(length)
        except ValueError:
            raise BodyTooLarge(f"Content-Length {length[:40]!r} is not a number") from None
        if size > limit:
            raise BodyTooLarge(f"Content-Length {size}")
        raw = request.read(size)
    elif request.META.get("wsgi.input_terminated"):
        # No Content-Length: the server ends the stream at the body's end (gunicorn does for
        # chunked requests), so read it in pieces and stop one byte past the limit.
        stream, parts, total = request.META["wsgi.input"], [], 0
        while total <= limit:
            part = stream.read(min(65536, limit + 1 - total))
            if not part:
                break
            parts.append(part)
            total += len(part)
        if total > limit:
            raise BodyTooLarge("a body without Content-Length ran past the limit")
        raw = b"".join(parts)
    else:
        raw = request.read()  # no length and an unterminated stream: WSGI says empty
    request._body = raw  # what request.body would have read, for anything after us
    return raw


def _handshake(request: HttpRequest) -> HttpResponse:
    mode = request.GET.get("hub.mode")
    token = request.GET.get("hub.verify_token")
    challenge = request.GET.get("hub.challenge")
    if mode is None or token is None or challenge is None:
        return HttpResponse(
            "hub.mode, hub.verify_token and hub.challenge are required",
            status=400,
            content_type="text/plain",
        )
    expected = settings.WHATSAPP_VERIFY_TOKEN
    if mode == "subscribe" and expected and hmac.compare_digest(token.encode(), expected.encode()):
        return HttpResponse(challenge, content_type="text/plain")
    return HttpResponse("verification failed", status=403, content_type="text/plain")
