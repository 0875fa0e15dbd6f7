"""Attachments customers sent, served to the agents who may see their conversation.

Media files live under MEDIA_ROOT, which is never served directly, in any mode (config/urls.py
has no static route for MEDIA_URL, not even with DEBUG): every download goes through
``conversation_for`` (invisible channel = 404), so a guessed file name or message id reveals
nothing. Raster images, audio and video may be shown inline; everything else (SVG and HTML
included) is a download. Every answer carries ``nosniff`` and a sandboxing CSP, so a hostile file
(an HTML "document") cannot run in our origin. See docs/security.md, item 8.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from channels_app.access import Cap, can
from channels_app.whatsapp.media_policy import strip_bidi
from conversations import partitions
from conversations.access import conversation_for
from conversations.models import Message

# Shown inline in the thread; anything else is offered as a download.
INLINE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})
# Served inline (the browser's own player) besides INLINE_TYPES; never SVG, HTML or XML.
PLAYABLE_PREFIXES = ("audio/", "video/")
CSP = "sandbox; default-src 'none'"


def serves_inline(mime: str) -> bool:
    return mime in INLINE_TYPES or (mime.startswith(PLAYABLE_PREFIXES) and "xml" not in mime)


@require_GET
@login_required
def attachment(request, pk: int, message_id: int):
    """The file of one message of conversation ``pk`` (404 when missing or not downloaded yet)."""
    conversation = conversation_for(request.user, pk)
    message = (
        Message.objects.filter(
            partitions.in_thread(conversation), pk=message_id, conversation=conversation
        )
        .only("pk", "payload", "type", "revoked_at")
        .first()
    )
    payload = (message.payload or {}) if message else {}
    if message is not None and message.revoked_at is not None and not can(
        request.user, Cap.SEE_DELETED, conversation.channel
    ):
        payload = {}  # deleted by its sender: kept for Supervisors only (issue 21)
    path = payload.get("file")
    if not path:
        raise Http404(_("This attachment is not available."))
    try:
        handle = default_storage.open(path, "rb")
    except (FileNotFoundError, OSError):
        raise Http404(_("This attachment is not available.")) from None
    # The type the download answered with (checked against the message's kind) before the one
    # the webhook named.
    declared = payload.get("file_type") or payload.get("mime_type") or ""
    mime = str(declared).split(";")[0].strip().lower() or "application/octet-stream"
    filename = strip_bidi(str(payload.get("filename") or "")) or PurePosixPath(path).name
    response = FileResponse(
        handle, content_type=mime, as_attachment=not serves_inline(mime), filename=filename
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = CSP
    response["Cache-Control"] = "private, max-age=3600"
    return response
