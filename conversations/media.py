"""Inbound media: fetched from the provider by a task, kept under MEDIA_ROOT (docs/whatsapp.md).

Meta keeps inbound media for 7 days and hands out download URLs that expire after 5 minutes, so
the webhook only stores the media id and a task fetches the bytes at once. What the download may
touch is decided in ``channels_app.whatsapp.media_policy`` (docs/security.md). A download that
could not be queued (broker down) or whose worker died is picked up by ``sweep_media`` (beat,
every minute); each download claims its row first, so two tasks never fetch the same file.
"""

from __future__ import annotations

import base64
import logging
import mimetypes
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_noop

from channels_app import transports
from channels_app.whatsapp.errors import WhatsAppError
from conversations import jobs
from conversations.models import Message
from conversations.services import announcements

logger = logging.getLogger(__name__)

MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
# Meta deletes inbound media this long after it was sent: later, a download cannot succeed.
MEDIA_LIFETIME = timedelta(days=7)
# The sweep leaves a message this long to the download enqueued by the webhook.
SWEEP_AFTER = timedelta(minutes=1)
SWEEP_BATCH = 200
# Stored in English, translated when the thread shows them (desk._attachment).
EXPIRED_REASON = gettext_noop(
    "WhatsApp keeps media for 7 days; this one was not downloaded in time."
)
CHECKSUM_MISMATCH = gettext_noop("The file does not match its checksum.")
GAVE_UP = gettext_noop(
    "The file could not be fetched from WhatsApp after several tries; ask the customer to send "
    "it again."
)
# A download that failed transiently is tried again from the sweep, at most this many times in
# all, after RETRY_BASE, twice that, … (capped): 30 s, 1, 2, 4 minutes with the defaults.
MAX_DOWNLOAD_ATTEMPTS = 5
RETRY_BASE = timedelta(seconds=30)
RETRY_CAP = timedelta(minutes=30)


def retry_delay(attempt: int) -> timedelta:
    """How long after failed attempt ``attempt`` (1, 2, …) the next one is due."""
    return min(RETRY_CAP, RETRY_BASE * 2 ** max(attempt - 1, 0))


def _claim_timeout() -> timedelta:
    return settings.MEDIA_DOWNLOAD_CLAIM_TIMEOUT


def _pending(payload: dict) -> bool:
    return bool(payload.get("media_id")) and not payload.get("file") and not (
        payload.get("download_error")
    )


def _fresh(stamp, now: datetime) -> bool:
    """Whether a claim written at ``stamp`` (ISO text) is younger than the claim timeout."""
    at = parse_datetime(str(stamp)) if stamp else None
    return at is not None and at > now - _claim_timeout()


def _claim(message_id: int, now: datetime) -> Message | None:
    """Lock the row and mark the download as started; None when there is nothing to do or a
    live download (another task) holds it."""
    with transaction.atomic():
        message = (
            Message.objects.select_for_update()
            .select_related("channel")
            .filter(pk=message_id)
            .first()
        )
        if message is None:
            return None
        payload = message.payload or {}
        if not _pending(payload) or _fresh(payload.get("download_started_at"), now):
            return None
        message.payload = {**payload, "download_started_at": now.isoformat()}
        message.save(update_fields=["payload"])
        return message


def download_inbound_media(message_id: int, *, now: datetime | None = None) -> str:
    """Download a message's media once and record its storage path in ``payload["file"]``.

    Idempotent (a message that has a file, a recorded failure, or a download under way elsewhere
    is left alone). A transient provider error (5xx, timeout, rate limit) releases the claim,
    counts the attempt in ``payload["download_attempts"]`` and sets ``media_due_at`` for the
    media sweep to try again (``retry_delay``); the last allowed attempt, and every permanent
    error (refusals included), is recorded in ``payload["download_error"]``, which the thread
    shows. Returns the stored path, "retry", "failed" or "nothing to do".
    """
    now = now or timezone.now()
    message = _claim(message_id, now)
    if message is None:
        return "nothing to do"
    payload = message.payload
    media_id = str(payload["media_id"])
    try:
        # The medium's own fetch (by the channel's kind), within its limits for the type.
        info, download = transports.for_channel(message.channel).fetch_media(
            message.channel, media_id, kind=message.type
        )
    except WhatsAppError as error:
        if error.transient:
            return _retry_later(message_id, payload, error, now)
        logger.warning("media of message %s not downloaded: %s", message_id, error.message)
        _fail(message_id, str(error.user_message))
        return "failed"
    with download.file:
        if info.sha256 and info.sha256 not in (
            base64.b64encode(download.sha256).decode(),
            download.sha256.hex(),  # Meta documents base64; some payloads carry hex
        ):
            _fail(message_id, CHECKSUM_MISMATCH)
            return "failed"
        mime = (info.mime_type or download.content_type).split(";")[0].strip().lower()
        extension = mimetypes.guess_extension(mime) or ".bin"
        # Only our own ids in the name: nothing the customer or the provider wrote.
        name = f"whatsapp/{message.channel_id}/{message.pk}{extension}"
        path = default_storage.save(name, File(download.file, name=name))
    _update_payload(
        message_id,
        {"file": path, "file_size": download.size, "file_type": mime},
        drop=("download_started_at", "media_queued_at"),
    )
    announcements.message_changed([message_id], change="media")
    return path


def _retry_later(message_id: int, payload: dict, error: WhatsAppError, now: datetime) -> str:
    attempts = int(payload.get("download_attempts") or 0) + 1
    logger.info("media of message %s: attempt %s failed: %s", message_id, attempts, error.code)
    if attempts >= MAX_DOWNLOAD_ATTEMPTS:
        _update_payload(
            message_id,
            {"download_attempts": attempts, "download_error": GAVE_UP},
            drop=("download_started_at", "media_queued_at"),
        )
        return "failed"
    _update_payload(
        message_id,
        {"download_attempts": attempts},
        drop=("download_started_at", "media_queued_at"),
        due=now + retry_delay(attempts),
    )
    return "retry"


def _fail(message_id: int, reason: str) -> None:
    drop = ("download_started_at", "media_queued_at")
    _update_payload(message_id, {"download_error": reason[:500]}, drop=drop)
    announcements.message_changed([message_id], change="media")


@transaction.atomic
def _update_payload(
    message_id: int, changes: dict, *, drop: tuple[str, ...] = (), due: datetime | None = None
) -> None:
    """Change the payload under a row lock; ``due``: when the sweep may retry (else none)."""
    message = Message.objects.select_for_update().get(pk=message_id)
    payload = {k: v for k, v in (message.payload or {}).items() if k not in drop}
    message.payload = {**payload, **changes}
    message.media_due_at = due
    message.save(update_fields=["payload", "media_due_at"])


# --- the sweep -------------------------------------------------------------------------------
# Media the desk downloads: what customers sent, and what the business sent from the WhatsApp
# Business app (echoes, imported history). The desk's own outbound media was uploaded by us.
DOWNLOADED = Q(direction=Message.Direction.INBOUND) | ~Q(via=Message.Via.DESK)


def _candidates():
    """Media messages with neither a file nor a recorded failure (index msg_media_pending)."""
    return (
        Message.objects.filter(DOWNLOADED, type__in=MEDIA_TYPES, payload__has_key="media_id")
        .exclude(payload__has_key="file")
        .exclude(payload__has_key="download_error")
    )


def claim_pending_media(*, now: datetime) -> list[int]:
    """Ids of media downloads to queue again, each marked ``media_queued_at`` under a row lock.

    A message qualifies once it is SWEEP_AFTER old, or, after a failed download, once its retry
    is due (``media_due_at``), when no download holds a live claim and no sweep queued it within
    the claim timeout. Messages past Meta's 7-day media lifetime are
    marked failed instead. On PostgreSQL the rows are locked with SKIP LOCKED, so two sweeps
    running at once split the rows between them instead of queueing each twice.
    """
    skip_locked = connection.features.has_select_for_update_skip_locked
    ids: list[int] = []
    expired = 0
    with transaction.atomic():
        rows = (
            _candidates()
            .filter(
                Q(media_due_at__isnull=True, created_at__lt=now - SWEEP_AFTER)
                | Q(media_due_at__lte=now)
            )
            .select_for_update(skip_locked=skip_locked)
            .order_by("created_at")
            .only("pk", "payload", "created_at", "sent_at")[:SWEEP_BATCH]
        )
        for message in rows:
            payload = message.payload or {}
            if not _pending(payload):
                continue
            born = min(filter(None, (message.sent_at, message.created_at)))
            if born < now - MEDIA_LIFETIME:
                payload = {k: v for k, v in payload.items() if k != "media_queued_at"}
                message.payload = {**payload, "download_error": EXPIRED_REASON}
                message.save(update_fields=["payload"])
                expired += 1
                continue
            if _fresh(payload.get("download_started_at"), now) or _fresh(
                payload.get("media_queued_at"), now
            ):
                continue
            message.payload = {**payload, "media_queued_at": now.isoformat()}
            message.save(update_fields=["payload"])
            ids.append(message.pk)
    if expired:
        logger.warning("media sweep: %s download(s) past the 7-day media lifetime", expired)
    return ids


def sweep_media(*, now: datetime | None = None, enqueue=None) -> int:
    """Queue the download of every inbound media still missing; returns how many were queued.

    Queueing twice is harmless: the download claims its row, so a second task skips it.
    """
    ids = claim_pending_media(now=now or timezone.now())
    send = enqueue or partial(jobs.enqueue, jobs.DOWNLOAD_MEDIA)
    for message_id in ids:
        send(message_id)
    if ids:
        logger.info("media sweep queued %s download(s)", len(ids))
    return len(ids)
