"""Inbound media: fetched from the provider by a task, kept under MEDIA_ROOT (docs/whatsapp.md).

Meta keeps inbound media for 7 days and hands out download URLs that expire after 5 minutes, so
the webhook only stores the media id and a task fetches the bytes at once.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import mimetypes

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from channels_app.whatsapp.client import WhatsAppClient
from channels_app.whatsapp.errors import WhatsAppError
from conversations.models import Message

logger = logging.getLogger(__name__)


def download_inbound_media(message_id: int) -> str:
    """Download a message's media once and record its storage path in ``payload["file"]``.

    Idempotent (a message that has a file is left alone). Transient provider errors propagate so
    the task retries; permanent ones are recorded in ``payload["download_error"]``.
    """
    message = Message.objects.select_related("channel").get(pk=message_id)
    payload = message.payload or {}
    media_id = payload.get("media_id")
    if not media_id or payload.get("file"):
        return "nothing to do"
    client = WhatsAppClient.for_channel(message.channel)
    try:
        info = client.get_media(str(media_id))
        content = client.download_media(info.url)
    except WhatsAppError as error:
        if error.transient:
            raise
        _update_payload(message_id, {"download_error": str(error.user_message)})
        return "failed"
    if info.sha256 and not _sha256_matches(content, info.sha256):
        _update_payload(message_id, {"download_error": "checksum mismatch"})
        return "failed"
    mime = (info.mime_type or payload.get("mime_type") or "").split(";")[0].strip()
    extension = mimetypes.guess_extension(mime) or ".bin"
    name = f"whatsapp/{message.channel_id}/{message.pk}-{media_id}{extension}"
    path = default_storage.save(name, ContentFile(content))
    _update_payload(message_id, {"file": path, "file_size": len(content)})
    return path


def _sha256_matches(content: bytes, expected: str) -> bool:
    digest = hashlib.sha256(content).digest()
    # Meta documents base64; some payloads carry hex. Accept either.
    return expected in (base64.b64encode(digest).decode(), digest.hex())


@transaction.atomic
def _update_payload(message_id: int, changes: dict) -> None:
    message = Message.objects.select_for_update().get(pk=message_id)
    message.payload = {**(message.payload or {}), **changes}
    message.save(update_fields=["payload"])
