"""Parsed webhook events applied through the services: the webhook's inline path and the
worker's chunks of a stored payload (conversations.inbound_payloads) share this code.

Events come from a medium's transport (``channels_app.transports``: WhatsApp's parser first), for
channels of its ``kind``. Inbound messages (``InboundMessage``, the transports' value object, its
type and time made the desk's here) go through ``inbound.receive_inbound`` (deduplicated on the
wamid), statuses
through ``outbound.apply_status``, template reviews through
``template_services.apply_template_status``. A message's or status's time more than
``MAX_CLOCK_AHEAD`` ahead of our clock is replaced by the receive time. See docs/whatsapp.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from dataclasses import asdict, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DataError, IntegrityError, transaction
from django.utils import timezone

from channels_app import health, template_services
from channels_app.models import Channel
from channels_app.transports import InboundMessage
from channels_app.whatsapp import webhook_events
from conversations import jobs, signals
from conversations.models import Message
from conversations.services import delivery, inbound, inbound_changes

logger = logging.getLogger(__name__)

# Meta's inbound types → ours; anything else is kept as "unsupported" with its original type.
MESSAGE_TYPES = {t: t for t in Message.Type.values if t != Message.Type.TEMPLATE}

# A timestamp further ahead of our clock than this is not believed (issue 12: a message dated
# 2286 would keep the 24-hour window open for centuries); the receive time stands in for it.
MAX_CLOCK_AHEAD = timedelta(minutes=5)

# What the database can refuse one event with; the event is then retried on its own.
STORE_ERRORS = (DataError, IntegrityError)


def process_events(
    events: list, *, now: datetime | None = None, kind: str = Channel.Kind.WHATSAPP
) -> Counter:
    """Apply the parsed events of a webhook for channels of ``kind``; returns counts by outcome.

    A single inbound message is stored on its own (on PostgreSQL one statement that also finds
    its channel: ``inbound.store_inbound_at_number``); anything else goes in chunks of
    ``WEBHOOK_CHUNK_EVENTS``, each one transaction (``apply_chunk``).
    """
    now = now or timezone.now()
    if (
        len(events) == 1
        and isinstance(events[0], InboundMessage)
        and not inbound_changes.handles(events[0])
    ):
        return _receive_one(events[0], now=now, kind=kind)
    counts: Counter = Counter()
    size = settings.WEBHOOK_CHUNK_EVENTS
    for start in range(0, len(events), size):
        counts += apply_chunk(events[start : start + size], now=now, kind=kind)
    return counts


def apply_chunk(events: list, *, now: datetime, kind: str = Channel.Kind.WHATSAPP) -> Counter:
    """Apply events in one transaction. Should the database refuse one of them (a value no
    column holds, a race lost three times), the chunk is rolled back and each event applied in
    its own transaction, so that one costs no other and is logged."""
    numbers = {
        e.phone_number_id
        for e in events
        if isinstance(e, NUMBERED)
    }
    channels = Channel.objects.active_at(kind, numbers) if numbers else {}
    # The chunk's messages are announced together (one message_received for the chunk, not
    # one per message): each receiver runs once per chunk.
    try:
        with transaction.atomic(), signals.coalesced():
            return _apply(events, channels, now)
    except STORE_ERRORS:
        if len(events) > 1:
            logger.info("a webhook chunk of %d events is applied one by one", len(events))
    counts: Counter = Counter()
    with signals.coalesced():  # merges only inside the caller's transaction, if any
        for event in events:
            try:
                with transaction.atomic():
                    counts += _apply([event], channels, now)
            except STORE_ERRORS as exc:
                counts += _refused(event, exc, channels, now)
    return counts


def _refused(event: webhook_events.Event, exc: Exception, channels: dict, now: datetime) -> Counter:
    """An event the database refused on its own: a message is kept as unreadable (its fields
    as the raw JSON), anything else logged."""
    reason = f"{type(exc).__name__}: {str(exc)[:300]}"
    logger.warning("webhook event %s not stored as read: %s", _event_id(event), reason)
    if isinstance(event, InboundMessage) and event.type != "unreadable":
        try:
            with transaction.atomic():
                return _apply([_as_unreadable(event, reason)], channels, now)
        except STORE_ERRORS:
            logger.warning("webhook message %s not stored at all", event.provider_message_id)
    return Counter(refused=1)


def _apply(events: list[webhook_events.Event], channels: dict, now: datetime) -> Counter:
    counts: Counter = Counter()
    history: dict[Channel, list] = {}
    for event in events:
        if isinstance(event, webhook_events.Ignored):
            logger.info("webhook field %s ignored (%s)", event.field, event.why)
            counts["ignored"] += 1
            continue
        if isinstance(event, webhook_events.Skipped):
            logger.warning(
                "webhook %s skipped: %s; raw: %s", event.where, event.reason, event.raw[:2000]
            )
            counts["skipped"] += 1
            continue
        if isinstance(event, HEALTH_EVENTS):
            counts["health"] += _apply_health(event, now)
            continue
        if isinstance(event, webhook_events.TemplateStatusUpdate):
            counts["templates"] += template_services.apply_template_status(
                waba_id=event.waba_id,
                template_id=event.template_id,
                name=event.name,
                language=event.language,
                event=event.event,
                reason=event.reason,
                event_at=_believable(event.event_at, now, what=f"template {event.template_id}"),
            )
            continue
        channel = channels.get(event.phone_number_id)
        if channel is None:
            logger.warning("webhook for unknown phone_number_id %s", event.phone_number_id)
            counts["unknown_number"] += 1
            continue
        if isinstance(event, webhook_events.MarketingPreference):
            # A customer stopped or resumed marketing: the app that keeps consent records it.
            signals.announce(
                signals.marketing_preference, channel_id=channel.pk, wa_id=event.wa_id,
                value=event.value, detail=event.detail, at=_believable(
                    event.timestamp, now, what=f"preference of {event.wa_id}"),
            )  # fmt: skip
            counts["preferences"] += 1
            continue
        if isinstance(event, webhook_events.StatusUpdate):
            error = event.error
            message = delivery.apply_status(
                channel=channel,
                provider_message_id=event.provider_message_id,
                status=event.status,
                timestamp=_believable(
                    event.timestamp, now, what=f"status of {event.provider_message_id}"
                ),
                callback_data=event.callback_data,
                error_code=error.code if error else None,
                error_title=error.title if error else "",
                error_details=error.details if error else "",
                pricing=event.pricing,
                now=now,
            )
            counts["statuses" if message else "unknown_status"] += 1
            continue
        if inbound_changes.handles(event):
            # Edits, deletions, app echoes, history and system messages (issue 21).
            sent_at = _believable(event.sent_at, now, what=f"message {event.provider_message_id}")
            event = replace(event, sent_at=sent_at)
            if event.source == "history":
                history.setdefault(channel, []).append(event)  # imported together, below
            else:
                counts[inbound_changes.apply(channel, event, now=now)] += 1
            continue
        message, created = inbound.receive_inbound(
            channel=channel, message=as_received(event, now=now), now=now
        )
        counts["messages" if created else "duplicates"] += 1
        if created and event.type == "unreadable":
            _log_unreadable(event)
        if created and event.media_id:
            jobs.download_media(message.pk)
    for channel, past in history.items():
        counts += inbound_changes.import_history(channel, past, now=now)
    return counts


# Webhooks about a number's or an account's health (channels_app.health records them).
HEALTH_EVENTS = (
    webhook_events.NumberQualityUpdate,
    webhook_events.AccountUpdate,
    webhook_events.TemplateQualityUpdate,
)
# Events of one phone number (their channel is looked up by its id).
NUMBERED = (InboundMessage, webhook_events.StatusUpdate, webhook_events.MarketingPreference)


def _apply_health(event, now: datetime) -> int:
    at = now  # recorded (and alerted) when it arrives; Meta's time stays in the health event
    if isinstance(event, webhook_events.NumberQualityUpdate):
        return health.apply_quality_update(
            waba_id=event.waba_id, display_phone_number=event.display_phone_number,
            event=event.event, current_limit=event.current_limit, old_limit=event.old_limit,
            now=at,
        )  # fmt: skip
    if isinstance(event, webhook_events.AccountUpdate):
        return health.apply_account_update(
            waba_id=event.waba_id, event=event.event, value=event.value, now=at
        )
    return health.apply_template_quality(
        waba_id=event.waba_id, template_id=event.template_id, name=event.name,
        language=event.language, new_score=event.new_score,
        previous_score=event.previous_score, now=at,
    )  # fmt: skip


def _believable(at: datetime | None, now: datetime, *, what: str) -> datetime:
    """Meta's time for an event, unless it is missing or ahead of our clock by more than
    MAX_CLOCK_AHEAD: then the receive time (logged)."""
    if at is None:
        return now
    if at > now + MAX_CLOCK_AHEAD:
        logger.warning(
            "webhook %s dated %s, ahead of the server clock (%s): the receive time is used",
            what,
            at.isoformat(),
            now.isoformat(),
        )
        return now
    return at


def as_received(event: InboundMessage, *, now: datetime) -> InboundMessage:
    """The parsed message as the inbound services store it: its type the desk's (an unknown one
    kept as ``unsupported`` with its original), its time believable (``_believable``)."""
    kind = MESSAGE_TYPES.get(event.type)
    payload = event.payload
    if kind is None:
        payload = {"original_type": event.type, **payload}
        kind = Message.Type.UNSUPPORTED
    sent_at = _believable(event.sent_at, now, what=f"message {event.provider_message_id}")
    if kind == event.type and sent_at == event.sent_at:
        return event  # nearly every message: no copy on the hot path
    return replace(event, type=kind, payload=payload, sent_at=sent_at)


def _log_unreadable(event: InboundMessage) -> None:
    logger.warning(
        "unreadable webhook message %s stored as such: %s",
        event.provider_message_id,
        event.payload.get("reason", ""),
    )


def _event_id(event: webhook_events.Event) -> str:
    for name in ("provider_message_id", "template_id", "where", "field"):
        if hasattr(event, name):
            return f"{type(event).__name__} {getattr(event, name)}"
    return type(event).__name__  # pragma: no cover


def _receive_one(event: InboundMessage, *, now: datetime, kind: str) -> Counter:
    """A payload of one inbound message (nearly every webhook). On PostgreSQL one statement,
    atomic by itself, that finds the channel and stores the message (conversations/inbound_sql.py),
    with no BEGIN/COMMIT and no channel read around it."""
    try:
        stored = inbound.store_inbound_at_number(
            message=as_received(event, now=now), kind=kind, now=now
        )
    except STORE_ERRORS:
        # A value the statement could not store: the general path keeps it as unreadable.
        return apply_chunk([event], now=now, kind=kind)
    if stored is None:
        logger.warning("webhook for unknown phone_number_id %s", event.phone_number_id)
        return Counter(unknown_number=1)
    message_id, created = stored
    if created and event.type == "unreadable":
        _log_unreadable(event)
    if created and event.media_id:
        # Runs at once in autocommit (the statement has committed), after the caller's
        # transaction when there is one.
        jobs.download_media(message_id)
    return Counter(messages=1) if created else Counter(duplicates=1)


def _as_unreadable(event: InboundMessage, reason: str) -> InboundMessage:
    """The message as an unreadable one: only its id (if it fits), sender and time kept."""
    raw = json.dumps(asdict(event), default=str, ensure_ascii=True, sort_keys=True)
    wamid = event.provider_message_id
    if len(wamid) > Message._meta.get_field("provider_message_id").max_length:
        wamid = "unreadable." + hashlib.sha256(raw.encode()).hexdigest()[:40]
    return replace(
        event,
        provider_message_id=wamid,
        profile_name="",
        type="unreadable",
        body="",
        media_id="",
        reply_to_provider_id="",
        payload={
            "reason": f"the database refused it: {reason}",
            "raw": raw[: webhook_events.MAX_RAW],
        },
    )
