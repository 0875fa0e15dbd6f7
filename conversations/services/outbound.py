"""Outbound delivery: claim a queued reply, send it through the channel's transport, record the
result.

A reply is written as ``queued`` by the inbox services and dispatched by a Celery task after
commit. ``dispatch`` claims it with a conditional UPDATE (queued → sending), so two workers never
both send it, calls the provider outside any transaction, and stores the wamid and ``sent``.
Transient errors put it back to ``queued`` for a retry with backoff (the task schedules it);
permanent ones, or the last allowed attempt, mark it ``failed`` with Meta's code and text (the
reason is translated when shown: channels_app.whatsapp.failures) and an Event. ``apply_status``
moves the delivery state from the provider's callbacks, only ever upwards. ``retry`` queues a
failed reply again when its failure may be retried, through the same claim, so it cannot be sent
twice. A failed reply is no conversation's first response (``recount_first_response``).
``sweep_outbound`` re-enqueues what a broker outage or a dead worker left behind.
See docs/whatsapp.md.
"""

from __future__ import annotations

import logging
import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from channels_app import transports
from channels_app.access import Cap, require
from channels_app.models import MessageTemplate
from channels_app.transports import Outgoing, SendResult
from channels_app.whatsapp.errors import WhatsAppError, WindowClosed
from channels_app.whatsapp.failures import is_retryable
from conversations import jobs, send_policy
from conversations.models import Conversation, Event, Message
from conversations.services import announcements, sending
from conversations.services.delivery import raw_text, recount_first_response
from conversations.services.events import (
    EMPTY_REPLY,
    MAX_REPLY_LENGTH,
    PLACEHOLDER,
    REPLY_ON_RESOLVED,
    REPLY_TOO_LONG,
    TEMPLATE_NOT_SENDABLE,
    TEMPLATE_PARAMS,
    WINDOW_CLOSED,
    DomainError,
    Status,
    _later,
    _lock,
    _preview,
    _user_ref,
    record_event,
)
from conversations.services.events import WindowClosed as WindowClosedRefusal

logger = logging.getLogger(__name__)

# Attempts per message, counted in the row (not by Celery) so a sweep re-enqueue cannot reset it.
# Eight attempts spread the retries over 2 to 4 minutes: six (31 to 62 s) failed most replies of a
# one-minute provider outage in the fault suite (bench/faults, case d).
MAX_ATTEMPTS = 8
BACKOFF_BASE_S = 2.0
BACKOFF_CAP_S = 120.0
# A reply nobody picked up within this long was lost on the way to the broker.
# (Defaults; settings.OUTBOUND_STUCK_QUEUED_AFTER / OUTBOUND_STUCK_SENDING_AFTER override them so
# the fault suite can see a sweep within seconds.)
STUCK_QUEUED_AFTER = timedelta(minutes=2)
# A claim older than this belongs to a worker that died mid-send. The provider echoes our message
# id in every status (biz_opaque_callback_data), so a send that did reach it has already been
# reconciled to "sent" by then, and re-sending the rest cannot duplicate a delivered message.
STUCK_SENDING_AFTER = timedelta(minutes=10)
SWEEP_BATCH = 500
# A send that got no answer (a timeout) may still have reached WhatsApp, whose "sent" status
# then arrives within seconds and clears the failure. Until this long after such a failure, a
# retry is refused so that it cannot send the message a second time.
UNANSWERED_SETTLE = timedelta(minutes=2)

NOT_FAILED = _("This reply has not failed (or is already being sent again).")
NOT_RETRYABLE = _("This failure cannot be fixed by sending the same message again.")
SETTLING = _(
    "WhatsApp did not answer the last attempt, so it may still arrive. Try again in a minute "
    "or two, once its status is in."
)

@dataclass(frozen=True)
class DispatchOutcome:
    """What one dispatch did: "sent", "failed", "retry" (after ``retry_in`` s) or "skipped"."""

    result: str
    retry_in: float | None = None
    error: WhatsAppError | None = None


def backoff(attempt: int) -> float:
    """Seconds before attempt ``attempt + 1``: exponential, capped, with jitter against herds."""
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** max(attempt - 1, 0))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security


def dispatch(message_id: int, *, now: datetime | None = None) -> DispatchOutcome:
    """Send one queued outbound message, at most once at a time per message.

    Claims the row (queued → sending, attempts + 1) with a conditional UPDATE; a row that is not
    queued is skipped, which makes the task idempotent. A free-form reply whose 24-hour window
    closed while it waited fails with "window closed" without calling the API. Must not run inside
    a transaction: the provider is called between two short ones.
    """
    claimed = Message.objects.filter(
        pk=message_id, direction=Message.Direction.OUTBOUND, delivery=Message.Delivery.QUEUED
    ).update(delivery=Message.Delivery.SENDING, attempts=F("attempts") + 1)
    if not claimed:
        return DispatchOutcome("skipped")
    message = Message.objects.select_related(
        "conversation__contact", "channel", "template"
    ).get(pk=message_id)
    # The sweep needs the claim time to tell a dead worker from a slow one.
    payload = {**(message.payload or {}), "dispatch": {"claimed_at": timezone.now().isoformat()}}
    Message.objects.filter(pk=message_id, attempts=message.attempts).update(payload=payload)
    now = now or timezone.now()

    conversation = message.conversation
    if message.type != Message.Type.TEMPLATE and not conversation.is_window_open(
        now, margin=settings.WHATSAPP_WINDOW_SAFETY_MARGIN
    ):
        error = WindowClosed(code=131047)
        mark_failed(message_id, error=error, now=now)
        return DispatchOutcome("failed", error=error)

    try:
        result = _send(message)
    except WhatsAppError as error:
        if error.transient and message.attempts < MAX_ATTEMPTS:
            Message.objects.filter(pk=message_id, delivery=Message.Delivery.SENDING).update(
                delivery=Message.Delivery.QUEUED
            )
            delay = backoff(message.attempts)
            logger.info(
                "message %s: transient error %s, retry %s in %.1fs",
                message_id,
                error.code,
                message.attempts + 1,
                delay,
            )
            return DispatchOutcome("retry", retry_in=delay, error=error)
        mark_failed(message_id, error=error, now=now)
        return DispatchOutcome("failed", error=error)
    record_accepted(message_id, result=result, now=timezone.now())
    return DispatchOutcome("sent")


def _send(message: Message) -> SendResult:
    """Hand the message to its channel's transport (by the channel's kind), in the desk's words
    (``transports.Outgoing``): the transport builds the medium's request."""
    channel = message.channel
    transport = transports.for_channel(channel)
    to = transport.address_of(message.conversation.contact)
    if not to:
        raise WhatsAppError(
            "contact has no WhatsApp number", details="The customer hides their phone number."
        )
    payload = message.payload or {}
    callback = str(message.pk)  # echoed in every status: lets statuses find the row early
    if message.type == Message.Type.TEMPLATE:
        template = message.template
        name = template.name if template else payload.get("template_name") or payload.get("name")
        language = (
            template.language if template else payload.get("language") or payload.get("lang")
        )
        return transport.send(
            channel,
            Outgoing(
                to=to,
                kind="template",
                template_name=str(name),
                template_language=str(language),
                template_components=template_components(payload),
                callback_data=callback,
            ),
        )
    if sending.handles(message):
        # Attachments the desk stored (uploaded here), reactions, buttons, lists, locations,
        # contact cards (issue 16; docs/composer.md).
        return sending.send(message, transport, to=to)
    if message.type in sending.MEDIA_TYPES:  # a link given by the API
        media_id = payload.get("media_id") or None
        return transport.send(
            channel,
            Outgoing(
                to=to,
                kind=message.type,
                media_id=media_id,
                link=None if media_id else payload.get("link"),
                text=message.body,
                filename=payload.get("filename"),
                callback_data=callback,
            ),
        )
    return transport.send(
        channel,
        Outgoing(
            to=to,
            kind="text",
            text=message.body,
            reply_to=message.reply_to_provider_id or None,
            callback_data=callback,
        ),
    )


def template_components(payload: dict) -> list:
    """The send-time ``components`` of a template message from what the inbox stored.

    Accepts API-shaped ``components``, or ``parameters`` (the body's values in order, or a
    mapping of named parameters).
    """
    if isinstance(payload.get("components"), list):
        return payload["components"]
    params = payload.get("parameters") or payload.get("params") or []
    if isinstance(params, dict):
        values = [
            {"type": "text", "parameter_name": str(k), "text": str(v)} for k, v in params.items()
        ]
    else:
        values = [{"type": "text", "text": str(v)} for v in params]
    return [{"type": "body", "parameters": values}] if values else []


@transaction.atomic
def record_accepted(message_id: int, *, result: SendResult, now: datetime) -> Message:
    """Store the provider's wamid and ``sent``, unless a status callback already got further."""
    message = Message.objects.select_for_update().get(pk=message_id)
    fields = []
    if not message.provider_message_id:
        message.provider_message_id = result.wamid
        fields.append("provider_message_id")
    elif message.provider_message_id != result.wamid:
        logger.warning("message %s: provider id changed; keeping the first", message_id)
    if Message.rank(message.delivery) < Message.rank(Message.Delivery.SENT):
        message.delivery = Message.Delivery.SENT
        fields.append("delivery")
    if message.sent_at is None:
        message.sent_at = now
        fields.append("sent_at")
    if fields:
        message.save(update_fields=fields)
        announcements.message_changed([message.pk], change="delivery")
    return message


@transaction.atomic
def mark_failed(message_id: int, *, error: WhatsAppError, now: datetime) -> Message:
    """Mark an outbound message failed with a readable reason and record REPLY_FAILED.

    No-op when the message already reached a higher state (delivered or read prove delivery).
    """
    message = Message.objects.select_for_update().select_related("conversation").get(
        pk=message_id
    )
    if Message.rank(message.delivery) >= Message.rank(Message.Delivery.FAILED):
        return message
    message.delivery = Message.Delivery.FAILED
    message.failure_code = error.code
    message.failure_reason = raw_text(error)[:500]
    message.payload = {
        **(message.payload or {}),
        "failure": {
            "source": "send",
            "transient": bool(error.transient),
            # No HTTP answer: the request may have reached WhatsApp all the same.
            "answered": error.http_status is not None,
            "at": now.isoformat(),
        },
    }
    message.save(update_fields=["delivery", "failure_code", "failure_reason", "payload"])
    record_event(
        message.conversation,
        kind=Event.Kind.REPLY_FAILED,
        actor=None,
        data={
            "message": message.pk,
            "code": error.code,
            "reason": message.failure_reason,
            "transient": bool(error.transient),
        },
        now=now,
    )
    recount_first_response(message.conversation_id)
    announcements.message_changed([message.pk], change="delivery")
    return message


def failure_of(message: Message) -> dict:
    """What the message's failure recorded beyond its code (source, transient, answered, at)."""
    payload = message.payload if isinstance(message.payload, dict) else {}
    failure = payload.get("failure")
    return failure if isinstance(failure, dict) else {}


def can_retry(message: Message) -> bool:
    """Whether a failed outbound message failed in a way that sending it again may fix."""
    return (
        message.direction == Message.Direction.OUTBOUND
        and message.delivery == Message.Delivery.FAILED
        and is_retryable(message.failure_code, transient=bool(failure_of(message).get("transient")))
    )


def retry(message: Message, *, actor, now: datetime | None = None) -> Message:
    """Queue a failed reply again, the same row, for the outbound claim to send.

    Needs Cap.REPLY on the channel (PermissionDenied). Refused with DomainError when the
    failure cannot be retried (the window closed, the recipient, a template problem: see
    channels_app.whatsapp.failures), the conversation is resolved, a free-form reply's window
    has closed meanwhile, or the last attempt got no answer less than UNANSWERED_SETTLE ago.
    The conditional UPDATE (failed, with the failure it was checked against → queued) is the
    guard: of two clicks or two agents, one queues it and the other is told it is already
    being sent; the dispatch claim then sends it once. Records REPLY_RETRIED, moves the
    conversation's activity, and from now on the reply counts from this instant.
    """
    now = now or timezone.now()
    conversation = message.conversation
    require(actor, Cap.REPLY, conversation.channel)
    if message.direction != Message.Direction.OUTBOUND or (
        message.delivery != Message.Delivery.FAILED
    ):
        raise DomainError(str(NOT_FAILED))
    if not can_retry(message):
        raise DomainError(str(NOT_RETRYABLE))
    failure = failure_of(message)
    failed_at = parse_datetime(str(failure.get("at")))
    if (
        failure.get("source") == "send"
        and not failure.get("answered", True)
        and (failed_at is None or now < failed_at + UNANSWERED_SETTLE)
    ):
        raise DomainError(str(SETTLING))
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if conversation.status == Conversation.Status.RESOLVED:
            raise DomainError(str(REPLY_ON_RESOLVED))
        if message.type != Message.Type.TEMPLATE and not conversation.is_window_open(
            now, margin=settings.WHATSAPP_WINDOW_SAFETY_MARGIN
        ):
            raise DomainError(str(WINDOW_CLOSED))
        payload = {k: v for k, v in (message.payload or {}).items() if k != "failure"}
        payload["retries"] = [
            *(payload.get("retries") or []),
            {
                "at": now.isoformat(),
                "by": actor.pk,
                "code": message.failure_code,
                "wamid": message.provider_message_id,
            },
        ]
        # A send that failed asynchronously had a wamid: its late statuses must not find the
        # new send (see _superseded); a synchronous failure must not have gained one since.
        requeued = Message.objects.filter(
            pk=message.pk,
            delivery=Message.Delivery.FAILED,
            failure_code=message.failure_code,
            provider_message_id=message.provider_message_id,
        ).update(
            delivery=Message.Delivery.QUEUED,
            attempts=0,
            failure_code=None,
            failure_reason="",
            provider_message_id=None,
            sent_at=None,
            retried_at=now,
            payload=payload,
        )
        if not requeued:
            raise DomainError(str(NOT_FAILED))
        record_event(
            conversation,
            kind=Event.Kind.REPLY_RETRIED,
            actor=actor,
            data={"message": message.pk, "code": message.failure_code},
            now=now,
        )
        if conversation.last_activity_at is None or conversation.last_activity_at < now:
            Conversation.objects.filter(pk=conversation.pk).update(last_activity_at=now)
        recount_first_response(conversation.pk)
        announcements.message_changed([message.pk], change="delivery")
        message_id = message.pk
        jobs.dispatch_message(message_id)
    message.refresh_from_db()
    return message


def stuck_messages(*, now: datetime) -> list[int]:
    """Ids of outbound messages a sweep should dispatch again, releasing dead claims.

    Never-attempted replies count as stuck after STUCK_QUEUED_AFTER; replies waiting for a retry
    only once their backoff is long over; claims (sending) only after STUCK_SENDING_AFTER. A dead
    claim is released with a conditional UPDATE on the attempt count it was seen with, so a
    worker that claimed the row again in between keeps it.
    """
    stuck_queued_after = getattr(settings, "OUTBOUND_STUCK_QUEUED_AFTER", STUCK_QUEUED_AFTER)
    stuck_sending_after = getattr(settings, "OUTBOUND_STUCK_SENDING_AFTER", STUCK_SENDING_AFTER)
    base = Message.objects.filter(
        direction=Message.Direction.OUTBOUND, created_at__lt=now - stuck_queued_after
    )
    fresh = list(
        base.filter(delivery=Message.Delivery.QUEUED, attempts=0)
        .order_by("created_at")
        .values_list("pk", flat=True)[:SWEEP_BATCH]
    )
    retry_cutoff = now - timedelta(seconds=BACKOFF_CAP_S) - stuck_queued_after
    ids = list(fresh)
    candidates = base.filter(
        Q(delivery=Message.Delivery.QUEUED, attempts__gt=0)
        | Q(delivery=Message.Delivery.SENDING)
    ).values_list("pk", "delivery", "attempts", "payload")[:SWEEP_BATCH]
    for pk, delivery, attempts, payload in candidates:
        claimed = parse_datetime(str(((payload or {}).get("dispatch") or {}).get("claimed_at")))
        if delivery == Message.Delivery.QUEUED:
            if claimed is None or claimed < retry_cutoff:
                ids.append(pk)
        elif (claimed is None or claimed < now - stuck_sending_after) and (
            Message.objects.filter(pk=pk, delivery=delivery, attempts=attempts).update(
                delivery=Message.Delivery.QUEUED
            )
        ):
            ids.append(pk)
    return ids


def sweep_outbound(*, now: datetime | None = None, enqueue=None) -> int:
    """Re-enqueue every stuck outbound message; returns how many were enqueued.

    Enqueueing twice is harmless: dispatch claims the row, so the second task skips it.
    """
    ids = stuck_messages(now=now or timezone.now())
    send = enqueue or partial(jobs.enqueue, jobs.DISPATCH_MESSAGE)
    for message_id in ids:
        send(message_id)
    if ids:
        logger.info("outbound sweep re-enqueued %s message(s)", len(ids))
    return len(ids)


# --- reply and template (moved from the services module) --------------------------------------

def _store_outbound(
    conversation: Conversation, *, author: AbstractBaseUser, now: datetime, **message_fields
) -> Message:
    """Insert a queued outbound message on a locked conversation, auto-assign, enqueue on commit."""
    message = Message.objects.create(
        conversation=conversation,
        channel_id=conversation.channel_id,
        direction=Message.Direction.OUTBOUND,
        delivery=Message.Delivery.QUEUED,
        author=author,
        created_at=now,
        **message_fields,
    )
    fields = ["last_activity_at", "last_message_preview"]
    # The row is locked, so of two agents replying at once only the first sees no assignee.
    # author=None: the system (services.system_messages) assigns nobody and answers nobody.
    if author is not None and conversation.assignee_id is None and conversation.channel.auto_assign:
        conversation.assignee = author
        fields.append("assignee")
        record_event(
            conversation,
            kind=Event.Kind.ASSIGNED,
            actor=author,
            data={"from": None, "to": _user_ref(author), "auto": True},
            now=now,
        )
    if author is not None and conversation.first_response_at is None:
        conversation.first_response_at = now
        conversation.first_responder = author
        fields += ["first_response_at", "first_responder"]
    if author is not None:  # an agent answered: nobody waits; the system's messages answer nobody
        conversation.waiting_since = None
        fields.append("waiting_since")
    conversation.last_activity_at = _later(conversation.last_activity_at, now)
    conversation.last_message_preview = _preview(message.body, message.type)
    conversation.save(update_fields=fields)

    jobs.dispatch_message(message.id)
    author_id = None if author is None else author.pk
    announcements.sent([message.pk], author_id=author_id)
    if "assignee" in fields:
        announcements.conversation_changed(
            [conversation.pk], change=Event.Kind.ASSIGNED, actor_id=author_id
        )
    return message


@transaction.atomic
def reply(
    conversation: Conversation,
    *,
    author: AbstractBaseUser,
    body: str,
    reply_to: str = "",
    now: datetime | None = None,
) -> Message:
    """Queue a free-form reply; it is sent by a task after commit. ``reply_to``: the wamid of
    a message of this conversation the reply quotes (DomainError when it is not one).

    Needs Cap.REPLY (PermissionDenied otherwise). Refused with WindowClosed outside the 24-hour
    window (less the safety margin), and with DomainError when empty, too long or Resolved.
    Locks the conversation; auto-assigns an unassigned one to the author when the channel says so.
    """
    now = now or timezone.now()
    require(author, Cap.REPLY, conversation.channel)
    body = (body or "").strip()
    if not body:
        raise DomainError(str(EMPTY_REPLY))
    if len(body) > MAX_REPLY_LENGTH:
        raise DomainError(str(REPLY_TOO_LONG))
    _lock(conversation)
    if conversation.status == Status.RESOLVED:
        raise DomainError(str(REPLY_ON_RESOLVED))
    if not conversation.is_window_open(now, margin=settings.WHATSAPP_WINDOW_SAFETY_MARGIN):
        raise WindowClosedRefusal(str(WINDOW_CLOSED))
    sending.check_quote(conversation.pk, reply_to)
    return _store_outbound(
        conversation, author=author, now=now, type=Message.Type.TEXT, body=body,
        reply_to_provider_id=reply_to or "",
    )  # fmt: skip


def template_placeholder_count(template: MessageTemplate) -> int:
    """How many positional parameters ({{1}}, {{2}}, ...) the template's body needs."""
    return len(set(PLACEHOLDER.findall(template.body_text())))


def render_template(template: MessageTemplate, params: list[str]) -> str:
    """The body as the customer will read it, with {{n}} replaced by the n-th parameter."""

    def fill(match: re.Match) -> str:
        index = int(match.group(1)) - 1
        return params[index] if 0 <= index < len(params) else match.group(0)

    return PLACEHOLDER.sub(fill, template.body_text())


@transaction.atomic
def send_template(
    conversation: Conversation,
    *,
    author: AbstractBaseUser,
    template: MessageTemplate,
    params: list[str],
    now: datetime | None = None,
) -> Message:
    """Queue an approved template message, the only way to write after the 24-hour window.

    Needs Cap.REPLY. The template must belong to the channel and be sendable, and every
    placeholder needs a non-empty parameter (DomainError otherwise). Same locking, auto-assign
    and after-commit dispatch as ``reply``.
    """
    now = now or timezone.now()
    if author is not None:  # None: the system (services.proactive, for the messaging API)
        require(author, Cap.REPLY, conversation.channel)
    if template.channel_id != conversation.channel_id or not template.is_sendable:
        raise DomainError(str(TEMPLATE_NOT_SENDABLE))
    params = [str(p).strip() for p in params]
    count = template_placeholder_count(template)
    if len(params) != count or not all(params):
        raise DomainError(TEMPLATE_PARAMS % {"count": count})
    _lock(conversation)
    if conversation.status == Status.RESOLVED:
        raise DomainError(str(REPLY_ON_RESOLVED))
    # The guards other apps register (the marketing opt-out), whoever sends: agent, API, rule.
    refusal = send_policy.template_refusal(conversation, template)
    if refusal:
        raise DomainError(refusal)
    window_open = conversation.is_window_open(
        now, margin=settings.WHATSAPP_WINDOW_SAFETY_MARGIN
    )
    return _store_outbound(
        conversation,
        author=author,
        now=now,
        type=Message.Type.TEMPLATE,
        body=render_template(template, params),
        payload={"template": template.name, "language": template.language, "params": params},
        template=template,
        sent_outside_window=not window_open,
    )


