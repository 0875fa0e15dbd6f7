"""The webhook endpoint of every medium: verify, parse, store, enqueue — and answer fast.

``/webhooks/<kind>/`` asks the transport of that kind (``channels_app.transports``; WhatsApp's is
``/webhooks/whatsapp/``, Meta's contract) for each step; an unregistered kind is a 404. For
WhatsApp: GET is Meta's verification handshake. POST bodies are read up to
``WEBHOOK_MAX_BODY_BYTES`` (larger: 413 from Content-Length, before a byte is read), authenticated
by the X-Hub-Signature-256 HMAC over the raw bytes (bad or missing: 403, nothing stored), and
checked as an envelope (not JSON, no ``entry`` list: 400 with the reason). Below the envelope every
message and status is read on its own (``channels_app.whatsapp.webhooks``): one that cannot be read
is stored as an unreadable message or logged, never costing the rest of the batch.

A batch of at most ``WEBHOOK_INLINE_MAX_ITEMS`` items is applied in the request (one statement
for a single inbound message on PostgreSQL, else one transaction). A larger one is stored as
received (``InboundPayload``) and applied by the worker in chunks
(``conversations.inbound_payloads``), so the answer never waits for it. Inbound messages are
deduplicated by their wamid in ``services.receive_inbound``; statuses only move a delivery state
upwards. Media downloads are enqueued after commit. Unknown numbers are logged and acknowledged
(200) so Meta stops retrying. See docs/whatsapp.md.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from channels_app import transports
from channels_app.models import Channel
from conversations import jobs, signals
from conversations.services import inbound_events, inbound_payloads

logger = logging.getLogger(__name__)


class BodyTooLarge(Exception):
    pass


# The providers cannot send a CSRF token; this view authenticates every POST by the medium's
# signature instead (``transport.verify``), which is the only reason it is exempt.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def inbound_webhook(request: HttpRequest, kind: str) -> HttpResponse:
    try:
        transport = transports.get(kind)
    except transports.UnknownTransport:
        raise Http404("no such medium") from None
    if request.method == "GET":
        status, text = transport.handshake(request.GET)
        return HttpResponse(text, status=status, content_type="text/plain")
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    try:
        raw = read_body(request, limit)
    except BodyTooLarge as exc:
        logger.warning("webhook body refused: %s (limit %d bytes)", exc, limit)
        return HttpResponse(
            f"body larger than {limit} bytes", status=413, content_type="text/plain"
        )
    if not transport.verify(raw, request.headers):
        logger.warning("webhook with a missing or wrong signature refused")
        return HttpResponse("invalid signature", status=403, content_type="text/plain")
    try:
        data = transport.load(raw)
    except transports.MalformedRequest as exc:
        logger.warning("malformed webhook refused: %s", exc.reason)
        return HttpResponse(exc.reason, status=400, content_type="text/plain")
    if transport.count_items(data) > settings.WEBHOOK_INLINE_MAX_ITEMS:
        payload = inbound_payloads.store_payload(raw, now=timezone.now(), kind=kind)
        return JsonResponse({"stored": 1, "payload": payload.pk})
    # The receivers of what this stores run in the worker, not while the provider waits.
    handover = jobs.announce_in_worker if settings.ANNOUNCE_WEBHOOKS_IN_WORKER else None
    with signals.handed_to_worker(handover):
        counts = inbound_events.process_events(transport.events(data), kind=kind)
    return JsonResponse(dict(counts))


@csrf_exempt  # as inbound_webhook: signed by Meta
def whatsapp_webhook(request: HttpRequest) -> HttpResponse:
    """``/webhooks/whatsapp/`` (DESIGN.md's stable interface): the WhatsApp transport's."""
    return inbound_webhook(request, kind=Channel.Kind.WHATSAPP)


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
