"""How the composer's messages leave (issue 16; docs/composer.md): the outbound dispatch hands
``send`` every message that is not text or a template.

Sent through the channel's transport (``channels_app.transports``; WhatsApp's below). An
attachment is stored with the message (``payload["file"]``) and uploaded to the Cloud API's
media endpoint (``POST /{phone-number-id}/media``) at its first dispatch; the media id that
answers is kept in the payload at once, so a retry after a failed send does not upload the file
again. Then the message goes out with that id: one WhatsApp message per attachment, each with
its own delivery state. Reactions, reply buttons, lists, locations and contact cards are sent
from the object ``channels_app.whatsapp.outgoing`` built when they were queued. A quoted
message (``reply_to_provider_id``) goes as ``context.message_id`` on every type.
"""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from channels_app.transports import Outgoing, SendResult, Transport
from channels_app.whatsapp import outgoing
from conversations.models import Message
from conversations.services.events import DomainError

MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
QUOTE_NOT_HERE = _("The quoted message is not part of this conversation.")


def check_quote(conversation_id: int, reply_to: str) -> None:
    """A quoted message (its wamid) must be one of this conversation's: DomainError if not."""
    if reply_to and not Message.objects.filter(
        conversation_id=conversation_id, provider_message_id=reply_to
    ).exists():
        raise DomainError(str(QUOTE_NOT_HERE))


def handles(message: Message) -> bool:
    """Whether ``send`` sends this message (the rest is text or a template)."""
    payload = message.payload if isinstance(message.payload, dict) else {}
    return message.type in outgoing.TYPES or (
        message.type in MEDIA_TYPES and bool(payload.get("file") or payload.get("media_id"))
    )


def send(message: Message, transport: Transport, *, to: str) -> SendResult:
    payload = message.payload if isinstance(message.payload, dict) else {}
    reply_to = message.reply_to_provider_id or None
    callback = str(message.pk)
    if message.type in MEDIA_TYPES:
        media_id = payload.get("media_id") or upload(message, transport)
        outgoing_message = Outgoing(
            to=to,
            kind=message.type,
            media_id=media_id,
            text=message.body,
            filename=payload.get("filename") if message.type == "document" else None,
            voice=bool(payload.get("voice")),
            reply_to=reply_to,
            callback_data=callback,
        )
    else:  # the transport builds the medium's object from the stored payload
        outgoing_message = Outgoing(
            to=to, kind=message.type, payload=payload, reply_to=reply_to, callback_data=callback
        )
    return transport.send(message.channel, outgoing_message)


def upload(message: Message, transport: Transport) -> str:
    """Upload the message's stored file; the media id is kept in the payload before the send."""
    payload = message.payload
    with default_storage.open(payload["file"], "rb") as handle:
        content = handle.read()
    media_id = transport.upload_media(
        message.channel,
        content=content,
        mime_type=str(payload.get("mime_type") or "application/octet-stream"),
        filename=str(payload.get("filename") or payload["file"].rsplit("/", 1)[-1]),
    )
    with transaction.atomic():
        row = Message.objects.select_for_update().only("payload").get(pk=message.pk)
        row.payload = {**(row.payload or {}), "media_id": media_id}
        row.save(update_fields=["payload"])
    message.payload = {**payload, "media_id": media_id}
    return media_id
