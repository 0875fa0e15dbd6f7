"""The API's template send: scope, rate limit and idempotency around the conversation service.

``send_template`` is the whole rule for one POST /api/v1/messages/template; the view only maps
its outcome to HTTP. The send itself (contact, conversation in Pending or the open one, the
message, its dispatch after commit, the opt-out refusal) is the conversation services' own
``send_template_to_number``. See docs/api.md.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from api.models import ApiToken, ChannelSendWindow, IdempotentRequest
from channels_app.models import Channel, MessageTemplate
from conversations import services

WINDOW = timedelta(minutes=1)


class ApiRefusal(Exception):
    """A request the API answers with ``status`` and ``detail`` (and maybe a Retry-After)."""

    def __init__(self, status: int, detail: str, *, retry_after: int | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.retry_after = retry_after


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict
    replayed: bool = False


def request_fingerprint(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _scoped_channel(token: ApiToken, channel_id: int) -> Channel:
    channel = token.channels.filter(pk=channel_id, is_active=True).first()
    if channel is None:
        # Like the desk's pages: a channel outside the token's scope does not exist for it.
        raise ApiRefusal(404, _("No channel %(id)s in this token's scope.") % {"id": channel_id})
    return channel


def _template(channel: Channel, name: str, language: str | None) -> MessageTemplate:
    templates = MessageTemplate.objects.filter(channel=channel, name=name)
    if language:
        templates = templates.filter(language=language)
    found = list(templates[:2])
    if not found:
        raise ApiRefusal(
            422, _("The channel has no template named “%(name)s”.") % {"name": name}
        )
    if len(found) > 1:
        raise ApiRefusal(
            422,
            _("The template “%(name)s” exists in several languages: name one.") % {"name": name},
        )
    template = found[0]
    if not template.is_sendable:
        raise ApiRefusal(422, str(services.TEMPLATE_NOT_SENDABLE))
    return template


def _take_send_slot(channel: Channel, *, now: datetime) -> None:
    """Count this send in the channel's last minute, or refuse with 429 and the wait.

    The channel's window row is locked (FOR UPDATE) for the rest of the transaction, so two
    concurrent sends on one channel are counted one after the other; a send that fails later
    rolls its slot back with the transaction.
    """
    limit = settings.API_SENDS_PER_MINUTE
    window, _created = ChannelSendWindow.objects.select_for_update().get_or_create(
        channel=channel
    )
    recent = [t for t in map(parse_datetime, window.sent_at) if t and now - t < WINDOW]
    if len(recent) >= limit:
        wait = (recent[-limit] + WINDOW - now).total_seconds()
        raise ApiRefusal(
            429,
            _("At most %(limit)s template messages a minute on this channel. Try again later.")
            % {"limit": limit},
            retry_after=max(1, math.ceil(wait)),
        )
    window.sent_at = [t.isoformat() for t in recent[-(limit - 1) :]] + [now.isoformat()]
    window.save(update_fields=["sent_at"])


def _stored_answer(token: ApiToken, key: str, fingerprint: str) -> Answer | None:
    stored = IdempotentRequest.objects.filter(token=token, key=key).first()
    if stored is None:
        return None
    if stored.request_hash != fingerprint:
        raise ApiRefusal(
            422, _("This Idempotency-Key was used for a different request; use a new key.")
        )
    return Answer(stored.status_code, stored.response, replayed=True)


def send_template(
    token: ApiToken,
    *,
    channel_id: int,
    to: str,
    template: str,
    language: str | None,
    params: list[str],
    idempotency_key: str | None,
    now: datetime | None = None,
) -> Answer:
    """Send an approved template to a phone number (digits of an international number)."""
    now = now or timezone.now()
    fingerprint = request_fingerprint(
        {"channel_id": channel_id, "to": to, "template": template, "language": language,
         "params": params}
    )  # fmt: skip
    if idempotency_key:
        answer = _stored_answer(token, idempotency_key, fingerprint)
        if answer is not None:
            return answer
    try:
        with transaction.atomic():
            claim = None
            if idempotency_key:
                # Claimed first: a concurrent request with the same key waits on this row's
                # unique index until we commit, then finds our answer.
                claim = IdempotentRequest.objects.create(
                    token=token, key=idempotency_key, request_hash=fingerprint,
                    status_code=0, response={}, created_at=now,
                )  # fmt: skip
            channel = _scoped_channel(token, channel_id)
            chosen = _template(channel, template, language)
            _take_send_slot(channel, now=now)
            try:
                sent = services.send_template_to_number(
                    channel, wa_id=to, template=chosen, params=params,
                    author=None, via=f"API token: {token.name}", now=now,
                )  # fmt: skip
            except services.DomainError as refusal:
                raise ApiRefusal(422, refusal.message) from None
            body = {
                "message_id": sent.message.pk,
                "conversation_id": sent.conversation.pk,
                "conversation_status": sent.conversation.status,
                "conversation_created": sent.created_conversation,
                "contact_id": sent.conversation.contact_id,
                "delivery": sent.message.delivery,
            }
            answer = Answer(201, body)
            if claim is not None:
                claim.status_code, claim.response = answer.status, answer.body
                claim.save(update_fields=["status_code", "response"])
            return answer
    except IntegrityError:
        if not idempotency_key:
            raise
        answer = _stored_answer(token, idempotency_key, fingerprint)
        if answer is None:
            raise
        return answer


def prune_idempotency(*, now: datetime | None = None) -> int:
    cutoff = (now or timezone.now()) - settings.API_IDEMPOTENCY_TTL
    return IdempotentRequest.objects.filter(created_at__lt=cutoff).delete()[0]
