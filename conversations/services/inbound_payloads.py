"""Large webhook bodies: stored as received in the request, applied by the worker in chunks.

Issue 12: a batch of 10,000 messages applied in the request held one transaction for 21.7 s on
PostgreSQL (the gunicorn timeout is 30 s) and 77 s on SQLite, where a concurrent login met
"database is locked". A body of more than ``WEBHOOK_INLINE_MAX_ITEMS`` items is therefore
stored (``store_payload``: one INSERT of the raw signed bytes) and answered at once; the worker
(``apply_payload``) parses it and applies ``WEBHOOK_CHUNK_EVENTS`` events per transaction, each
advancing ``InboundPayload.progress`` in the same transaction. Nothing is lost if the broker is
down (the row waits for ``sweep_payloads``) or the worker dies half-way (the sweep finds its
heartbeat stale and a new claim resumes at ``progress``); and since inbound messages are unique
per provider id, even a chunk applied twice stores each message once. See docs/whatsapp.md.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from channels_app import transports
from channels_app.models import Channel
from conversations import jobs
from conversations.models import InboundPayload
from conversations.services import inbound_events

logger = logging.getLogger(__name__)

Status = InboundPayload.Status


class _ClaimLost(Exception):
    """Another worker took the payload over (this one looked dead): stop, write nothing."""


def store_payload(
    raw: bytes, *, now: datetime, kind: str = Channel.Kind.WHATSAPP
) -> InboundPayload:
    """Keep a signed webhook body of the medium ``kind`` as received and queue its application
    after commit. A broker that is down only delays it: ``sweep_payloads`` queues it again.
    """
    payload = InboundPayload.objects.create(
        body=raw, kind=kind, received_at=now, status=Status.PENDING
    )
    jobs.enqueue_on_commit(jobs.APPLY_PAYLOAD, payload.pk)
    logger.info("webhook payload %d stored (%d bytes) for the worker", payload.pk, len(raw))
    return payload


def apply_payload(
    payload_id: int, *, budget_s: float | None = None, max_chunks: int | None = None
) -> str:
    """Claim a stored payload and apply its events chunk by chunk, from where the last claim
    stopped; returns what happened.

    The claim is a conditional UPDATE (waiting, or processing with a stale heartbeat), so two
    workers never apply one payload side by side. Each chunk is one transaction that first
    moves ``progress`` on (only if this claim still holds it) and then applies the events.
    After ``budget_s`` seconds (``INBOUND_PAYLOAD_TASK_BUDGET_S``) the payload is released and
    queued again, so one huge body cannot hold a worker for long; ``max_chunks`` stops after
    that many chunks and leaves the claim as a dead worker would (for tests and operators).
    """
    budget = settings.INBOUND_PAYLOAD_TASK_BUDGET_S if budget_s is None else budget_s
    payload = _claim(payload_id, now=timezone.now())
    if payload is None:
        return "not claimed"
    transport = transports.get(payload.kind)
    try:
        events = transport.events(transport.load(bytes(payload.body)))
    except transports.MalformedRequest as exc:  # the request checked it; a body edited since?
        logger.error("webhook payload %d cannot be read: %s", payload.pk, exc.reason)
        events = []
    total, progress, size = len(events), payload.progress, settings.WEBHOOK_CHUNK_EVENTS
    started, chunks, counts = time.monotonic(), 0, Counter()
    while progress < total:
        if max_chunks is not None and chunks >= max_chunks:
            return f"stopped at {progress}/{total}"
        if chunks and time.monotonic() - started > budget:
            _release(payload, progress)
            return f"continued at {progress}/{total}"
        end = min(progress + size, total)
        try:
            counts += _apply_chunk(payload, events[progress:end], progress, end, total)
        except _ClaimLost:
            logger.info("webhook payload %d was taken over at %d", payload.pk, progress)
            return "taken over"
        progress, chunks = end, chunks + 1
        if settings.WEBHOOK_CHUNK_PAUSE_S and progress < total:
            # SQLite: a writer waiting on the lock polls every 100 ms at best, and a worker that
            # begins its next chunk at once would win every time (a login waited for the whole
            # batch). The pause hands the lock over between chunks.
            time.sleep(settings.WEBHOOK_CHUNK_PAUSE_S)
    InboundPayload.objects.filter(pk=payload.pk, attempts=payload.attempts).update(
        status=Status.DONE, progress=total, total=total, processed_at=timezone.now()
    )
    logger.info("webhook payload %d applied: %s", payload.pk, dict(counts))
    return f"applied {total} events: {dict(counts)}"


def _claim(payload_id: int, *, now: datetime) -> InboundPayload | None:
    stale = now - settings.INBOUND_PAYLOAD_STALE_AFTER
    claimed = (
        InboundPayload.objects.filter(pk=payload_id)
        .filter(Q(status=Status.PENDING) | Q(status=Status.PROCESSING, heartbeat_at__lt=stale))
        .update(status=Status.PROCESSING, attempts=F("attempts") + 1, heartbeat_at=now)
    )
    if not claimed:
        return None
    return InboundPayload.objects.get(pk=payload_id)


def _apply_chunk(
    payload: InboundPayload, events: list, start: int, end: int, total: int
) -> Counter:
    """One short transaction: the progress first (it holds the claim), then the events."""
    now = timezone.now()
    with transaction.atomic():
        moved = InboundPayload.objects.filter(
            pk=payload.pk, attempts=payload.attempts, progress=start
        ).update(progress=end, total=total, heartbeat_at=now)
        if not moved:
            raise _ClaimLost
        return inbound_events.apply_chunk(events, now=now, kind=payload.kind)


def _release(payload: InboundPayload, progress: int) -> None:
    released = InboundPayload.objects.filter(
        pk=payload.pk, attempts=payload.attempts, progress=progress
    ).update(status=Status.PENDING, heartbeat_at=None)
    if released:
        jobs.enqueue_on_commit(jobs.APPLY_PAYLOAD, payload.pk)


def sweep_payloads(*, now: datetime) -> int:
    """Queue payloads the worker never got (broker down) or stopped applying (worker died);
    delete applied ones after ``INBOUND_PAYLOAD_RETENTION``. Returns how many were queued.

    Queueing one twice is harmless: only one claim succeeds.
    """
    waiting = Q(status=Status.PENDING, received_at__lt=now - settings.INBOUND_PAYLOAD_QUEUED_AFTER)
    dead = Q(
        status=Status.PROCESSING, heartbeat_at__lt=now - settings.INBOUND_PAYLOAD_STALE_AFTER
    )
    stuck = list(
        InboundPayload.objects.filter(waiting | dead)
        .order_by("received_at")
        .values_list("pk", flat=True)[:100]
    )
    for pk in stuck:
        logger.info("webhook payload %d queued again by the sweep", pk)
        jobs.enqueue(jobs.APPLY_PAYLOAD, pk)
    InboundPayload.objects.filter(
        status=Status.DONE, processed_at__lt=now - settings.INBOUND_PAYLOAD_RETENTION
    ).delete()
    return len(stuck)
