"""What the desk accepts as inbound media, before a byte is fetched (docs/security.md, item 2).

A webhook is signed by Meta, but its content is written by whoever sends the message, and a leaked
app secret lets anyone sign. So nothing in it may choose where the worker connects or what it
stores: a media id is digits and nothing else (never a URL), the download URL that the Graph API
answers is fetched only over https from the hosts in ``WHATSAPP_MEDIA_HOSTS`` (plain http only
for a host listed with ``http://``, i.e. the emulator in development), without following
redirects, at most WhatsApp's own size limit per media type, and only when the answer's content
type fits the message's type. File names on disk are built from our own ids.

The parser and the client both call ``is_media_id``; the text helpers strip the bidirectional
controls that would make "invoice‮fdp.exe" read as "invoiceexe.pdf".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from channels_app.whatsapp.errors import WhatsAppError

MEDIA_ID_RE = re.compile(r"^[0-9]{1,64}$")

MIB = 2**20
# WhatsApp's own limits per media type (developers.facebook.com, "Supported media types").
MAX_BYTES = {
    "image": 5 * MIB,
    "audio": 16 * MIB,
    "video": 16 * MIB,
    "document": 100 * MIB,
    "sticker": 500 * 2**10,
}
# The content types a download of each kind may answer with; None: any type (documents).
CONTENT_TYPES: dict[str, tuple[str, ...] | None] = {
    "image": ("image/",),
    "sticker": ("image/webp",),
    "audio": ("audio/",),
    "video": ("video/",),
    "document": None,
}

# Explicit embeddings/overrides/isolates, and the implicit marks: LRE RLE PDF LRO RLO, LRI RLI
# FSI PDI, LRM RLM, ALM.
BIDI_CONTROLS = frozenset(
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
)
_BIDI_RE = re.compile("[" + "".join(sorted(BIDI_CONTROLS)) + "]")


class MediaRefused(WhatsAppError):
    """A media download the desk will not make or keep (permanent: retrying cannot help)."""

    summary = _("The attachment was refused.")

    def __init__(self, reason: str):
        super().__init__(reason, details=reason)
        self.reason = reason

    @property
    def user_message(self) -> str:
        return f"{self.summary} {self.reason}"


def is_media_id(value) -> bool:
    """True for a WhatsApp media id: a string of digits (Meta's ids are numbers)."""
    return isinstance(value, str) and bool(MEDIA_ID_RE.fullmatch(value))


def strip_bidi(text: str) -> str:
    """``text`` without bidirectional control characters (for file names)."""
    return _BIDI_RE.sub("", text) if text else text


@dataclass(frozen=True)
class _Origin:
    scheme: str
    host: str
    port: int


def _origin(url: str) -> _Origin | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    default_port = 443 if parts.scheme == "https" else 80
    return _Origin(parts.scheme, parts.hostname.lower(), port or default_port)


def allowed_origins() -> list[_Origin]:
    """``WHATSAPP_MEDIA_HOSTS`` read: "host" or "host:port" or "https://host" allow https only;
    "http://host:port" allows plain http to exactly that host and port (development)."""
    origins = []
    for entry in settings.WHATSAPP_MEDIA_HOSTS:
        entry = str(entry).strip()
        if not entry:
            continue
        origin = _origin(entry if "://" in entry else f"https://{entry}")
        if origin is not None:
            origins.append(origin)
    return origins


def download_refusal(url: str) -> str:
    """Why ``url`` may not be fetched ("" when it may): https (or a listed http host) and a host
    in WHATSAPP_MEDIA_HOSTS, no credentials in the URL."""
    origin = _origin(url)
    if origin is None:
        return "the media URL is not an http(s) URL"
    if "@" in (urlsplit(url).netloc or ""):
        return "the media URL carries credentials"
    if origin not in allowed_origins():
        return f"the media host {origin.host} is not allowed (WHATSAPP_MEDIA_HOSTS)"
    return ""


def content_type_fits(kind: str, content_type: str, declared: str = "") -> bool:
    """Whether a download answered with ``content_type`` may be kept for a ``kind`` message.

    It must belong to the kind's family (image/*, audio/*, video/*, image/webp for stickers) and
    to the same family as the type the Graph API declared for the media.
    """
    answered = (content_type or "").split(";")[0].strip().lower()
    if not answered or "/" not in answered:
        return False
    allowed = CONTENT_TYPES.get(kind, ())
    if allowed is not None and not any(answered.startswith(prefix) for prefix in allowed):
        return False
    declared = (declared or "").split(";")[0].strip().lower()
    # The same family as the Graph API declared (when it declared one).
    return not declared or "/" not in declared or answered.split("/")[0] == declared.split("/")[0]


# --- outbound: what an agent may attach (reference §6, "Supported types and max sizes") -------
# The MIME types WhatsApp accepts per message type when we upload; anything else is refused
# before the upload, with a sentence for the agent.
SEND_TYPES: dict[str, tuple[str, ...]] = {
    "image": ("image/jpeg", "image/png"),
    "video": ("video/mp4", "video/3gpp", "video/3gp"),
    "audio": ("audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"),
    "document": (
        "text/plain",
        "application/pdf",
        "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.ms-excel",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ),
}
# At most this many attachments in one go (each is one WhatsApp message).
MAX_ATTACHMENTS = 10
MAX_CAPTION = 1024


BAD_TYPE = _(
    "“%(name)s” cannot be sent on WhatsApp (%(type)s). Send a JPEG or PNG picture, an MP4 "
    "video, an audio file (AAC, AMR, MP3, M4A, OGG/Opus) or a PDF, Office or text document."
)
TOO_BIG = _("“%(name)s” is %(size)s MB; WhatsApp takes at most %(limit)s MB for a %(kind)s.")


class AttachmentRefused(ValueError):
    """An attachment WhatsApp would not take; ``message`` says why, in the agent's language."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = str(message)


def send_kind(mime: str) -> str | None:
    """The message type a file of this MIME type is sent as (None: WhatsApp takes no such file)."""
    mime = (mime or "").split(";")[0].strip().lower()
    for kind, types in SEND_TYPES.items():
        if mime in types:
            return kind
    return None


def check_attachment(name: str, mime: str, size: int) -> str:
    """The message type to send ``name`` as, or AttachmentRefused with the limit it breaks."""
    kind = send_kind(mime)
    shown = strip_bidi(str(name or ""))[:100]
    if kind is None:
        raise AttachmentRefused(
            BAD_TYPE % {"name": shown, "type": (mime or "?").split(";")[0][:60]}
        )
    if size <= 0:
        raise AttachmentRefused(_("“%(name)s” is empty.") % {"name": shown})
    limit = MAX_BYTES[kind]
    if size > limit:
        raise AttachmentRefused(
            TOO_BIG
            % {
                "name": shown,
                "size": f"{size / MIB:.1f}",
                "limit": limit // MIB,
                "kind": KIND_LABELS[kind],
            }
        )
    return kind


KIND_LABELS = {
    "image": _("picture"),
    "video": _("video"),
    "audio": _("audio file"),
    "document": _("document"),
}
