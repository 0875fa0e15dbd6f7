"""What an agent sends besides text and templates (issue 16; docs/composer.md): attachments
(several at once, one WhatsApp message each, the caption on the first), a recorded voice note,
reactions, reply buttons, lists, a location and contact cards, each one quoting a message when
asked. Same rules as a reply (Cap.REPLY, not Resolved, the 24-hour window) and the same path
out: a queued outbound message per WhatsApp message, dispatched after commit through the outbox
with its retries (``outbound._store_outbound``); ``sending`` uploads and sends it.
"""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.files.base import ContentFile, File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from channels_app.access import Cap, require
from channels_app.whatsapp import media_policy, outgoing
from conversations.models import Conversation, Message
from conversations.services.events import (
    REPLY_ON_RESOLVED,
    WINDOW_CLOSED,
    DomainError,
    Status,
    _lock,
)
from conversations.services.events import WindowClosed as WindowClosedRefusal
from conversations.services.outbound import _store_outbound
from conversations.services.sending import QUOTE_NOT_HERE

NO_FILES = _("Choose at least one file to send.")
TOO_MANY_FILES = _("At most 10 attachments can be sent at once.")
CAPTION_TOO_LONG = _("A caption can be at most 1024 characters long.")
CANNOT_REACT = _("This message cannot be reacted to: WhatsApp has not accepted it yet.")
CAPTIONED = ("image", "video", "document")


@dataclass
class Attachment:
    """One file to send: its name, type and size as uploaded, and the file or its bytes."""

    name: str
    mime: str
    size: int
    file: Any = None
    content: bytes | None = None
    voice: bool = False


def _open_for_sending(conversation: Conversation, author, now: datetime, reply_to: str) -> None:
    """The checks of a reply, on the locked conversation, and the quoted message's presence."""
    _lock(conversation)
    if conversation.status == Status.RESOLVED:
        raise DomainError(str(REPLY_ON_RESOLVED))
    if not conversation.is_window_open(now, margin=settings.WHATSAPP_WINDOW_SAFETY_MARGIN):
        raise WindowClosedRefusal(str(WINDOW_CLOSED))
    if (
        reply_to
        and not Message.objects.filter(
            conversation_id=conversation.pk, provider_message_id=reply_to
        ).exists()
    ):
        raise DomainError(str(QUOTE_NOT_HERE))


@transaction.atomic
def send_attachments(
    conversation: Conversation,
    *,
    author: AbstractBaseUser,
    files: list[Attachment],
    caption: str = "",
    reply_to: str = "",
    now: datetime | None = None,
) -> list[Message]:
    """Queue one WhatsApp message per file, in order; the caption goes with the first file that
    can carry one (a picture, video or document). Every file is checked against WhatsApp's
    types and sizes before anything is stored (DomainError naming the file and the limit).
    The first message quotes ``reply_to`` when given."""
    now = now or timezone.now()
    require(author, Cap.REPLY, conversation.channel)
    caption = (caption or "").strip()
    if not files:
        raise DomainError(str(NO_FILES))
    if len(files) > media_policy.MAX_ATTACHMENTS:
        raise DomainError(str(TOO_MANY_FILES))
    if len(caption) > media_policy.MAX_CAPTION:
        raise DomainError(str(CAPTION_TOO_LONG))
    try:
        kinds = [media_policy.check_attachment(f.name, f.mime, f.size) for f in files]
    except media_policy.AttachmentRefused as exc:
        raise DomainError(exc.message) from None
    _open_for_sending(conversation, author, now, reply_to)
    carrier = next((i for i, kind in enumerate(kinds) if kind in CAPTIONED), None)
    stored = []
    for index, (attachment, kind) in enumerate(zip(files, kinds, strict=True)):
        mime = attachment.mime.split(";")[0].strip().lower()
        name = media_policy.strip_bidi(attachment.name or "")[:200] or f"{kind}"
        payload = {"mime_type": mime, "filename": name, "size": attachment.size}
        if attachment.voice:
            payload["voice"] = True
        message = _store_outbound(
            conversation,
            author=author,
            now=now,
            type=kind,
            body=caption if index == carrier else "",
            payload=payload,
            reply_to_provider_id=reply_to if index == 0 else "",
        )
        extension = mimetypes.guess_extension(mime) or ".bin"
        # Only our own ids in the name: nothing the agent's file was called.
        path = f"whatsapp/{conversation.channel_id}/out/{message.pk}{extension}"
        content = (
            ContentFile(attachment.content)
            if attachment.content is not None
            else File(attachment.file)
        )
        saved = default_storage.save(path, content)
        message.payload = {**payload, "file": saved, "file_type": mime}
        message.save(update_fields=["payload"])
        stored.append(message)
    if caption and carrier is None:
        # Only audio: WhatsApp takes no caption on it, so the text follows as a message.
        stored.append(
            _store_outbound(
                conversation, author=author, now=now, type=Message.Type.TEXT, body=caption
            )
        )
    return stored


@transaction.atomic
def send_structured(
    conversation: Conversation,
    *,
    author: AbstractBaseUser,
    kind: str,
    body: dict | list,
    reply_to: str = "",
    now: datetime | None = None,
) -> Message:
    """Queue reply buttons or a list (``interactive``), a ``location`` or ``contacts`` cards,
    ``body`` as ``channels_app.whatsapp.outgoing`` built it within WhatsApp's limits."""
    now = now or timezone.now()
    require(author, Cap.REPLY, conversation.channel)
    if kind not in ("interactive", "location", "contacts"):
        raise ValueError(f"not a structured message type: {kind!r}")
    _open_for_sending(conversation, author, now, reply_to)
    if kind == "interactive":
        payload = {"interactive": body}
    elif kind == "contacts":
        payload = {"contacts": body}
    else:
        payload = dict(body)
    return _store_outbound(
        conversation,
        author=author,
        now=now,
        type=kind,
        body=outgoing.describe(kind, body),
        payload=payload,
        reply_to_provider_id=reply_to,
    )


@transaction.atomic
def react(
    conversation: Conversation,
    *,
    author: AbstractBaseUser,
    target: Message,
    emoji: str,
    now: datetime | None = None,
) -> Message:
    """Queue the agent's reaction to ``target`` (a message of this conversation that WhatsApp
    accepted); an empty ``emoji`` takes the business's reaction back."""
    now = now or timezone.now()
    require(author, Cap.REPLY, conversation.channel)
    if target.conversation_id != conversation.pk:
        raise DomainError(str(QUOTE_NOT_HERE))
    wamid = target.provider_message_id or ""
    if not wamid.startswith("wamid."):
        raise DomainError(str(CANNOT_REACT))
    try:
        body = outgoing.reaction(message_id=wamid, emoji=emoji)
    except outgoing.Refused as exc:
        raise DomainError(exc.message) from None
    _open_for_sending(conversation, author, now, "")
    return _store_outbound(
        conversation,
        author=author,
        now=now,
        type=Message.Type.REACTION,
        body=body["emoji"],
        payload={**body, "target": target.pk, "removed": not body["emoji"]},
    )
