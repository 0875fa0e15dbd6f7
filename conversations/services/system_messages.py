"""Messages the desk sends on its own (issue 18): an away message, a greeting, a CSAT survey.

Stored and dispatched like a reply (``outbound._store_outbound``), but without an author: the
thread shows them as sent by the system, and they never count as the desk's first response
(here and in ``delivery.recount_first_response``) nor auto-assign the conversation. Free text
and interactive messages only inside the 24-hour window (less the safety margin); a template
must be the channel's, sendable, and take no parameters. A resolved conversation may receive
one (the survey follows the resolve).
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from channels_app.models import MessageTemplate
from channels_app.whatsapp import outgoing
from conversations import send_policy
from conversations.models import Conversation, Message
from conversations.services.events import (
    EMPTY_REPLY,
    MAX_REPLY_LENGTH,
    TEMPLATE_NOT_SENDABLE,
    TEMPLATE_PARAMS,
    WINDOW_CLOSED,
    DomainError,
    WindowClosed,
    _lock,
)
from conversations.services.outbound import (
    _store_outbound,
    render_template,
    template_placeholder_count,
)


@transaction.atomic
def send_system_message(
    conversation: Conversation,
    *,
    body: str = "",
    template: MessageTemplate | None = None,
    interactive: dict | None = None,
    now: datetime | None = None,
) -> Message:
    """Queue a system message: ``template``, else ``interactive`` (built by
    ``channels_app.whatsapp.outgoing``), else the text ``body``."""
    now = now or timezone.now()
    _lock(conversation)
    window_open = conversation.is_window_open(
        now, margin=settings.WHATSAPP_WINDOW_SAFETY_MARGIN
    )
    if template is not None:
        if template.channel_id != conversation.channel_id or not template.is_sendable:
            raise DomainError(str(TEMPLATE_NOT_SENDABLE))
        refusal = send_policy.template_refusal(conversation, template)  # the marketing opt-out
        if refusal:
            raise DomainError(refusal)
        if template_placeholder_count(template):
            raise DomainError(TEMPLATE_PARAMS % {"count": template_placeholder_count(template)})
        return _store_outbound(
            conversation,
            author=None,
            now=now,
            type=Message.Type.TEMPLATE,
            body=render_template(template, []),
            payload={"template": template.name, "language": template.language, "params": []},
            template=template,
            sent_outside_window=not window_open,
        )
    if not window_open:
        raise WindowClosed(str(WINDOW_CLOSED))
    if interactive is not None:
        return _store_outbound(
            conversation,
            author=None,
            now=now,
            type=Message.Type.INTERACTIVE,
            body=outgoing.describe("interactive", interactive),
            payload={"interactive": interactive},
        )
    body = (body or "").strip()
    if not body:
        raise DomainError(str(EMPTY_REPLY))
    return _store_outbound(
        conversation, author=None, now=now, type=Message.Type.TEXT, body=body[:MAX_REPLY_LENGTH]
    )
