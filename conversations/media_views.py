"""Attachments customers sent, served to the agents who may see their conversation.

Media files live under MEDIA_ROOT, which is never served directly in production: every download
goes through ``conversation_for`` (invisible channel = 404), so a guessed file name or message id
reveals nothing. Only raster images are shown inline; everything else is a download, served with
``nosniff`` and a sandboxing CSP so a hostile file (an HTML "document") cannot run in our origin.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from conversations.access import conversation_for
from conversations.models import Message

# Shown inline in the thread; anything else is offered as a download.
INLINE_TYPES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})


@require_GET
@login_required
def attachment(request, pk: int, message_id: int):
    """The file of one message of conversation ``pk`` (404 when missing or not downloaded yet)."""
    conversation = conversation_for(request.user, pk)
    message = (
        Message.objects.filter(pk=message_id, conversation=conversation)
        .only("pk", "payload", "type")
        .first()
    )
    payload = (message.payload or {}) if message else {}
    path = payload.get("file")
    if not path:
        raise Http404(_("This attachment is not available."))
    try:
        handle = default_storage.open(path, "rb")
    except (FileNotFoundError, OSError):
        raise Http404(_("This attachment is not available.")) from None
    mime = (payload.get("mime_type") or "application/octet-stream").split(";")[0].strip()
    inline = mime in INLINE_TYPES
    filename = payload.get("filename") or PurePosixPath(path).name
    response = FileResponse(
        handle, content_type=mime, as_attachment=not inline, filename=filename
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["Cache-Control"] = "private, max-age=3600"
    return response
