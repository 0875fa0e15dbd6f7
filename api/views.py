"""The proactive messaging API, /api/v1/ (django-ninja; docs/api.md).

Thin: each view authenticates through ``TokenAuth``, checks the token's channel scope, calls
one function of api.sending / api.webhooks / the conversation queries, and maps refusals to
4xx answers with a ``detail``. The OpenAPI document is /api/v1/openapi.json.
"""

from __future__ import annotations

import phonenumbers
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Header, NinjaAPI, Query, Status
from ninja.errors import AuthenticationError
from ninja.security.http import HttpAuthBase

from api import sending, tokens, webhooks
from api.models import ApiToken, WebhookSubscription
from api.payloads import conversation_data, message_data
from api.schemas import (
    ChannelOut,
    ConversationOut,
    Error,
    MessagePage,
    TemplateOut,
    TemplateSendIn,
    TemplateSendOut,
    WebhookCreated,
    WebhookIn,
    WebhookOut,
)
from channels_app.models import MessageTemplate
from conversations import services
from conversations.models import Conversation, Message

MAX_PAGE = 200


class TokenAuth(HttpAuthBase):
    """``Authorization: Bearer dsk_…``: an active integration token (never logged)."""

    openapi_type = "http"
    openapi_scheme = "bearer"

    def __call__(self, request: HttpRequest) -> ApiToken | None:
        scheme, _sep, raw = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        token = tokens.authenticate(raw.strip())
        if token is not None:
            request.api_token = token  # the audit log names the integration (audit.context)
        return token


api = NinjaAPI(
    title="Messaging desk API",
    version="1",
    description=(
        "Send approved WhatsApp templates, read conversations and subscribe to signed webhooks "
        "of desk events. Authenticate with `Authorization: Bearer <token>`; tokens are created "
        "by the desk's admins and scoped to channels."
    ),
    urls_namespace="api-v1",
    auth=TokenAuth(),
    docs_url=None,  # the Swagger page loads scripts from a CDN; the document is enough
)


def _error(request, status: int, detail: str, **headers) -> HttpResponse:
    response = api.create_response(request, {"detail": detail}, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    return _error(
        request, 401, _("Missing, unknown or revoked API token (Authorization: Bearer <token>)."),
        **{"WWW-Authenticate": "Bearer"},
    )  # fmt: skip


@api.exception_handler(sending.ApiRefusal)
def _refused(request, exc: sending.ApiRefusal):
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else {}
    return _error(request, exc.status, exc.detail, **headers)


@api.exception_handler(Http404)
def _not_found(request, exc):
    return _error(request, 404, str(exc) or _("Not found."))


@api.exception_handler(PermissionDenied)
def _forbidden(request, exc):
    return _error(request, 403, str(exc) or _("Not allowed."))


@api.exception_handler(services.DomainError)
def _domain(request, exc: services.DomainError):
    return _error(request, 422, exc.message)


@api.exception_handler(ValidationError)
def _invalid(request, exc: ValidationError):
    if hasattr(exc, "error_dict"):
        detail = " ".join(
            f"{field}: {' '.join(errors)}" for field, errors in exc.message_dict.items()
        )
    else:
        detail = " ".join(exc.messages)
    return _error(request, 422, detail)


def _token(request) -> ApiToken:
    return request.auth


def _conversation(request, conversation_id: int) -> Conversation:
    conversation = (
        Conversation.objects.filter(
            pk=conversation_id, channel__in=_token(request).channels.filter(is_active=True)
        )
        .select_related("contact")
        .first()
    )
    if conversation is None:
        raise Http404(
            _("No conversation %(id)s on this token's channels.") % {"id": conversation_id}
        )
    return conversation


def wa_id_of(number: str) -> str:
    """The WhatsApp ID (international digits) of a phone number written with its country code."""
    text = number.strip()
    try:
        parsed = phonenumbers.parse(text if text.startswith("+") else f"+{text}", None)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_possible_number(parsed):
        raise sending.ApiRefusal(
            422, _("“to” must be a phone number with its country code, e.g. +4915112345678.")
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164).lstrip("+")


# --- channels and templates ----------------------------------------------------------------------
@api.get("/channels", response=list[ChannelOut], summary="The token's channels")
def channels(request):
    return [
        {"id": c.pk, "name": c.display_name, "phone": c.display_phone_number}
        for c in _token(request).channels.filter(is_active=True).order_by("display_name", "id")
    ]


@api.get(
    "/channels/{channel_id}/templates",
    response={200: list[TemplateOut], 404: Error},
    summary="A channel's sendable templates",
)
def templates(request, channel_id: int):
    channel = _token(request).channels.filter(pk=channel_id, is_active=True).first()
    if channel is None:
        raise Http404(_("No channel %(id)s in this token's scope.") % {"id": channel_id})
    found = MessageTemplate.objects.filter(
        channel=channel, status__in=MessageTemplate.SENDABLE
    ).order_by("name", "language")
    return Status(200, [
        {"name": t.name, "language": t.language, "category": t.category, "status": t.status,
         "parameters": services.template_placeholder_count(t)}
        for t in found
    ])  # fmt: skip


# --- sending ---------------------------------------------------------------------------------
@api.post(
    "/messages/template",
    response={
        200: TemplateSendOut, 201: TemplateSendOut, 401: Error, 404: Error, 422: Error,
        429: Error,
    },
    summary="Send an approved template to a phone number",
    description=(
        "Opens a conversation in Pending for a new contact (or one without an open "
        "conversation), or adds the message to the open one. At most API_SENDS_PER_MINUTE "
        "sends a minute per channel (429 with Retry-After beyond). With an Idempotency-Key, "
        "a repeated request sends nothing and gets the first answer again (200, header "
        "Idempotent-Replayed: true)."
    ),
)
def send_template(
    request,
    body: TemplateSendIn,
    response: HttpResponse,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key", max_length=255),
):
    answer = sending.send_template(
        _token(request),
        channel_id=body.channel_id,
        to=wa_id_of(body.to),
        template=body.template,
        language=body.language,
        params=body.params,
        idempotency_key=(idempotency_key or "").strip() or None,
    )
    if answer.replayed:
        response["Idempotent-Replayed"] = "true"
        return Status(200, answer.body)
    return Status(answer.status, answer.body)


# --- reading ---------------------------------------------------------------------------------
@api.get(
    "/conversations/{conversation_id}",
    response={200: ConversationOut, 404: Error},
    summary="A conversation's status",
)
def conversation(request, conversation_id: int):
    return Status(200, conversation_data(_conversation(request, conversation_id)))


@api.get(
    "/conversations/{conversation_id}/messages",
    response={200: MessagePage, 404: Error},
    summary="A conversation's messages, newest page first",
)
def messages(
    request,
    conversation_id: int,
    limit: int = Query(50, ge=1, le=MAX_PAGE),
    before_id: int | None = Query(None, ge=1),
):
    found = _conversation(request, conversation_id)
    rows = Message.objects.filter(conversation=found).select_related("template").order_by("-id")
    if before_id is not None:
        rows = rows.filter(id__lt=before_id)
    page = list(rows[: limit + 1])
    older = len(page) > limit
    page = page[:limit]
    return Status(200, {
        "messages": [message_data(m) for m in reversed(page)],
        "next_before_id": page[-1].pk if older and page else None,
    })


# --- webhooks --------------------------------------------------------------------------------
def _subscription_data(s: WebhookSubscription) -> dict:
    return {"id": s.pk, "url": s.url, "events": s.events, "is_active": s.is_active,
            "created_at": s.created_at}  # fmt: skip


@api.get("/webhooks", response=list[WebhookOut], summary="The token's webhook subscriptions")
def list_webhooks(request):
    return [
        _subscription_data(s)
        for s in WebhookSubscription.objects.filter(token=_token(request)).order_by("id")
    ]


@api.post(
    "/webhooks",
    response={201: WebhookCreated, 422: Error},
    summary="Subscribe a URL to desk events",
    description=(
        "Events of the token's channels are POSTed as JSON, signed: header X-Desk-Signature "
        "`t=<unix time>,v1=<hex HMAC-SHA256 of '<t>.<body>' with the secret>`. A delivery "
        "not answered 2xx is retried with growing waits (30 s, 1 min, 2 min, … at most 1 h)."
    ),
)
def create_webhook(request, body: WebhookIn):
    try:
        subscription, secret = webhooks.subscribe(
            _token(request), url=str(body.url), events=body.events
        )
    except webhooks.BadSubscription as refusal:
        raise sending.ApiRefusal(422, str(refusal)) from None
    return Status(201, {**_subscription_data(subscription), "secret": secret})


@api.delete(
    "/webhooks/{subscription_id}",
    response={204: None, 404: Error},
    summary="Delete a webhook subscription",
)
def delete_webhook(request, subscription_id: int):
    subscription = WebhookSubscription.objects.filter(
        pk=subscription_id, token=_token(request)
    ).first()
    if subscription is None:
        raise Http404(_("No webhook subscription %(id)s of this token.") % {"id": subscription_id})
    webhooks.unsubscribe(subscription)
    return Status(204, None)
