"""The WhatsApp webhook endpoint: verify, parse, store, enqueue — and answer fast.

GET is Meta's verification handshake. POST bodies are authenticated by the X-Hub-Signature-256
HMAC over the raw bytes (bad or missing: 403, nothing stored), parsed in full by
``channels_app.whatsapp.webhooks`` (malformed: 400 with the reason), and then applied
atomically through the services (one transaction; one statement for a single inbound message on
PostgreSQL), so a payload is stored entirely or not at all. Inbound messages
are deduplicated by their wamid in ``services.receive_inbound``; statuses only move a delivery
state upwards. Media downloads are enqueued after commit. Unknown numbers are logged and
acknowledged (200) so Meta stops retrying. See docs/whatsapp.md.
"""

from __future__ import annotations

import hmac
import logging
from collections import Counter
from datetime import datetime
from functools import partial

from django.conf import settings
from django.db import DataError, IntegrityError, connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from channels_app import template_services
from channels_app.models import Channel
from channels_app.whatsapp import webhooks
from conversations import outbound
from conversations.models import Message

logger = logging.getLogger(__name__)

# Meta's inbound types → ours; anything else is kept as "unsupported" with its original type.
MESSAGE_TYPES = {t: t for t in Message.Type.values if t != Message.Type.TEMPLATE}


# Meta cannot send a CSRF token; this view authenticates every POST by its HMAC signature instead,
# which is the only reason it is exempt.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def whatsapp_webhook(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _handshake(request)
    raw = request.body
    if not webhooks.verify_signature(
        raw, request.headers.get(webhooks.SIGNATURE_HEADER), settings.WHATSAPP_APP_SECRET
    ):
        logger.warning("webhook with a missing or wrong signature refused")
        return HttpResponse("invalid signature", status=403, content_type="text/plain")
    try:
        events = webhooks.parse(raw)
    except webhooks.MalformedPayload as exc:
        logger.warning("malformed webhook refused: %s", exc.reason)
        return HttpResponse(exc.reason, status=400, content_type="text/plain")
    from conversations.services import DomainError

    try:
        counts = process_events(events)
    except DomainError as exc:
        return HttpResponse(exc.message, status=400, content_type="text/plain")
    except DataError:
        logger.warning("webhook value does not fit a column", exc_info=True)
        return HttpResponse("a value is out of range", status=400, content_type="text/plain")
    except IntegrityError:
        # A concurrent delivery of the same payload won the race; Meta's retry finds it stored.
        logger.info("webhook conflicted with a concurrent delivery", exc_info=True)
        return HttpResponse("conflict, retry", status=409, content_type="text/plain")
    return JsonResponse(dict(counts))


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


def process_events(events: list[webhooks.Event], *, now: datetime | None = None) -> Counter:
    """Apply parsed webhook events in one transaction; returns counts by outcome.

    Raises whatever a service raises, after rolling back everything this payload wrote.
    """
    from conversations import services
    from conversations.tasks import download_media

    now = now or timezone.now()
    if (
        len(events) == 1
        and isinstance(events[0], webhooks.InboundMessage)
        and connection.vendor == "postgresql"
    ):
        return _receive_one(events[0], now=now)
    numbers = {
        e.phone_number_id
        for e in events
        if isinstance(e, webhooks.InboundMessage | webhooks.StatusUpdate)
    }
    channels = Channel.objects.active_whatsapp(numbers)
    counts: Counter = Counter()
    with transaction.atomic():
        for event in events:
            if isinstance(event, webhooks.Ignored):
                logger.info("webhook field %s ignored (%s)", event.field, event.why)
                counts["ignored"] += 1
                continue
            if isinstance(event, webhooks.TemplateStatusUpdate):
                counts["templates"] += template_services.apply_template_status(
                    waba_id=event.waba_id,
                    template_id=event.template_id,
                    name=event.name,
                    language=event.language,
                    event=event.event,
                    reason=event.reason,
                )
                continue
            channel = channels.get(event.phone_number_id)
            if channel is None:
                logger.warning("webhook for unknown phone_number_id %s", event.phone_number_id)
                counts["unknown_number"] += 1
                continue
            if isinstance(event, webhooks.StatusUpdate):
                error = event.error
                message = outbound.apply_status(
                    channel=channel,
                    provider_message_id=event.provider_message_id,
                    status=event.status,
                    timestamp=event.timestamp,
                    callback_data=event.callback_data,
                    error_code=error.code if error else None,
                    error_title=error.title if error else "",
                    error_details=error.details if error else "",
                    now=now,
                )
                counts["statuses" if message else "unknown_status"] += 1
                continue
            message, created = services.receive_inbound(
                channel=channel, **_message_fields(event), now=now
            )
            counts["messages" if created else "duplicates"] += 1
            if created and event.media_id:
                transaction.on_commit(partial(download_media.delay, message.pk))
    return counts


def _message_fields(event: webhooks.InboundMessage) -> dict:
    """What services.receive_inbound() takes from an inbound event, its type mapped to ours."""
    payload = dict(event.payload)
    kind = MESSAGE_TYPES.get(event.type)
    if kind is None:
        payload.setdefault("original_type", event.type)
        kind = Message.Type.UNSUPPORTED
    return {
        "wa_id": event.wa_id,
        "bsuid": event.bsuid,
        "profile_name": event.profile_name,
        "provider_message_id": event.provider_message_id,
        "sent_at": event.sent_at,
        "type": kind,
        "body": event.body,
        "payload": payload,
        "reply_to_provider_id": event.reply_to_provider_id,
    }


def _receive_one(event: webhooks.InboundMessage, *, now: datetime) -> Counter:
    """A payload of one inbound message on PostgreSQL (nearly every webhook): one statement,
    atomic by itself, that finds the channel and stores the message (conversations/inbound_sql.py),
    with no BEGIN/COMMIT and no channel read around it."""
    from conversations import services
    from conversations.tasks import download_media

    stored = services.receive_inbound_at_number(
        phone_number_id=event.phone_number_id, **_message_fields(event), now=now
    )
    if stored is None:
        logger.warning("webhook for unknown phone_number_id %s", event.phone_number_id)
        return Counter(unknown_number=1)
    message, created = stored
    if created and event.media_id:
        # Runs at once in autocommit (the statement has committed), after the caller's
        # transaction when there is one.
        transaction.on_commit(partial(download_media.delay, message.pk))
    return Counter(messages=1) if created else Counter(duplicates=1)
