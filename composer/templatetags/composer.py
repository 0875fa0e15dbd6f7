"""The composer's template tags: the limits the page checks before an upload."""

from __future__ import annotations

import json

from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe

from channels_app.whatsapp import media_policy, outgoing
from conversations.services import composing as composing_texts

register = template.Library()


@register.simple_tag
def attachment_limits() -> str:
    """WhatsApp's types and sizes (media_policy) as an escaped JSON attribute value, so the page
    refuses a file before uploading it, with the same words as the server."""
    data = {
        "types": media_policy.SEND_TYPES,
        "max": {kind: media_policy.MAX_BYTES[kind] for kind in media_policy.SEND_TYPES},
        "count": media_policy.MAX_ATTACHMENTS,
        "rows": outgoing.MAX_LIST_ROWS,
        # The server's own sentences, translated, with %(name)s … filled in by the page.
        "messages": {
            "too_many": str(composing_texts.TOO_MANY_FILES),
            "bad_type": str(media_policy.BAD_TYPE),
            "too_big": str(media_policy.TOO_BIG),
            "kinds": {kind: str(label) for kind, label in media_policy.KIND_LABELS.items()},
        },
    }
    return mark_safe(escape(json.dumps(data)))  # noqa: S308 - escaped just before
