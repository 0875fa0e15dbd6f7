"""Every state change of a conversation goes through a function in this module.

Each one takes the subject positionally and everything else by keyword, checks the capability
through channels_app.access, runs in one transaction, and writes an Event in it. Side effects
(sending to the provider) leave only after commit. See docs/conversation-lifecycle.md.

Lock order (docs/concurrency.md): the conversation row first (``FOR NO KEY UPDATE``), then any
child rows. ``actor=None`` means the system.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from channels_app.access import Cap, channels_where, require
from channels_app.models import Channel, MessageTemplate
from config.db_features import is_postgres
from conversations import inbound_sql, message_changes, rules
from conversations.models import Contact, Conversation, Event, Message, Note, Tag, Topic

# WhatsApp Cloud API: a text message body is at most 4096 characters.
MAX_REPLY_LENGTH = 4096
MAX_NOTE_LENGTH = 10_000
PREVIEW_LENGTH = 200
PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")

Status = Conversation.Status


class DomainError(Exception):
    """A rule of the desk refused the action; ``message`` is shown to the user as it is."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class AssigneeNotAllowed(DomainError):
    """The chosen assignee may not be assigned the conversation (they cannot reply on it)."""


class WindowClosed(DomainError):
    """A free-form reply outside WhatsApp's 24-hour customer-service window."""


# The constant messages each refusal carries (tests assert them; the UI shows them).
WINDOW_CLOSED = _(
    "The 24-hour window for free-form replies has closed. Send an approved template instead."
)
EMPTY_REPLY = _("Write a reply first.")
REPLY_TOO_LONG = _("A reply can be at most 4096 characters long.")
REPLY_ON_RESOLVED = _(
    "This conversation is resolved. Move it back to New or Pending before writing to the customer."
)
TEMPLATE_NOT_SENDABLE = _("This template is not approved for this channel.")
TEMPLATE_PARAMS = ngettext_lazy(
    "This template needs %(count)s parameter, filled in.",
    "This template needs %(count)s parameters, each filled in.",
    "count",
)
UNKNOWN_STATUS = _("Unknown status.")
ANOTHER_OPEN = _(
    "The contact already has an open conversation on this channel; continue that one instead."
)
ASSIGNEE_NO_ACCESS = _(
    "This user cannot reply on this channel, so the conversation cannot be assigned to them."
)
ASSIGN_RESOLVED = _("A resolved conversation cannot be assigned.")
EMPTY_NOTE = _("Write a note first.")
NOTE_TOO_LONG = _("A note can be at most 10000 characters long.")


def record_event(
    conversation: Conversation,
    *,
    kind: str,
    actor: AbstractBaseUser | None,
    data: dict | None = None,
    now: datetime | None = None,
) -> Event:
    """Append one history row; ``actor=None`` means the system did it."""
    return Event.objects.create(
        conversation=conversation,
        kind=kind,
        actor=actor,
        data=data or {},
        created_at=now or timezone.now(),
    )


# --- helpers -----------------------------------------------------------------------------------


def _lock(conversation: Conversation) -> Conversation:
    """Reload the caller's instance under a row lock, so every check below sees fresh data.

    ``FOR NO KEY UPDATE``: serialises writers of this row without blocking inserts of its messages.
    """
    conversation.refresh_from_db(
        from_queryset=Conversation.objects.select_for_update(no_key=True)
    )
    return conversation


def _user_ref(user: AbstractBaseUser | None) -> dict | None:
    """How an Event names a user: the id, plus the name at the time (history stays readable)."""
    if user is None:
        return None
    name = user.get_full_name() if hasattr(user, "get_full_name") else ""
    return {"id": user.pk, "name": name or user.get_username()}


def _later(current: datetime | None, candidate: datetime) -> datetime:
    return candidate if current is None or candidate > current else current


def _preview(body: str, type: str) -> str:
    text = " ".join((body or "").split())
    if not text:
        text = f"[{Message.Type(type).label}]" if type in Message.Type.values else f"[{type}]"
    return text[:PREVIEW_LENGTH]


def _require(actor: AbstractBaseUser | None, cap: Cap, conversation: Conversation) -> None:
    if actor is not None:  # the system acts without a role
        require(actor, cap, conversation.channel)


def _has_access(user: AbstractBaseUser, channel: Channel, cap: Cap = Cap.SEE) -> bool:
    # Not can(user, ...): a channel loaded for the acting user carries *their* role annotation,
    # which role_for() would reuse for this other user.
    return channels_where(user, cap).filter(pk=channel.pk).exists()


# --- inbound -----------------------------------------------------------------------------------


def _contact_for(
    *, kind: str, wa_id: str | None, bsuid: str | None, profile_name: str
) -> Contact:
    contact = None
    if wa_id:
        contact = Contact.objects.filter(kind=kind, wa_id=wa_id).first()
    if contact is None and bsuid:
        contact = Contact.objects.filter(kind=kind, bsuid=bsuid).first()
    if contact is None:
        lookup = {"wa_id": wa_id} if wa_id else {"bsuid": bsuid}
        # get_or_create retries the read when a concurrent webhook inserted the same contact.
        contact, created = Contact.objects.get_or_create(
            kind=kind,
            **lookup,
            defaults={
                "bsuid": bsuid or None,
                "wa_id": wa_id or None,
                "profile_name": profile_name or "",
                "phone": f"+{wa_id}" if wa_id else "",
            },
        )
        if created:
            return contact
    changed = []
    if profile_name and contact.profile_name != profile_name:
        contact.profile_name = profile_name
        changed.append("profile_name")
    if bsuid and not contact.bsuid:
        contact.bsuid = bsuid
        changed.append("bsuid")
    if wa_id and not contact.wa_id:
        contact.wa_id, contact.phone = wa_id, contact.phone or f"+{wa_id}"
        changed += ["wa_id", "phone"]
    if changed:
        contact.save(update_fields=changed)
    return contact


def _inbound_fields(
    *, channel_id: int, provider_message_id: str, sent_at: datetime, type: str, body: str,
    payload: dict | None, reply_to_provider_id: str, now: datetime,
) -> dict:  # fmt: skip
    """The fields of a stored inbound message (both paths of receive_inbound)."""
    return {
        "channel_id": channel_id,
        "direction": Message.Direction.INBOUND,
        "type": type,
        "body": body or "",
        "payload": payload or {},
        "provider_message_id": provider_message_id,
        "reply_to_provider_id": reply_to_provider_id or "",
        "delivery": Message.Delivery.RECEIVED,
        "created_at": now,
        "sent_at": sent_at,
    }


def _attach_inbound(
    *, channel: Channel, contact: Contact, provider_message_id: str, sent_at: datetime,
    type: str, body: str, payload: dict | None, reply_to_provider_id: str, now: datetime,
) -> tuple[Message, bool]:
    conversation = (
        Conversation.objects.select_for_update(no_key=True)
        .filter(channel=channel, contact=contact, status__in=Conversation.OPEN)
        .first()
    )
    if conversation is None:
        # Two first messages at once: the partial unique constraint lets only one INSERT win;
        # the loser's savepoint rolls back and the caller retries, finding the winner's row.
        conversation = Conversation.objects.create(
            channel=channel,
            contact=contact,
            status=rules.on_inbound(None).status,
            opened_at=sent_at,
            last_customer_message_at=sent_at,
            last_activity_at=now,
        )
        record_event(conversation, kind=Event.Kind.OPENED, actor=None, now=now)
    # A redelivery that raced the first delivery fails the INSERT below on the unique provider
    # id; the caller's savepoint rolls back and its retry returns the stored message.

    message = Message.objects.create(
        conversation=conversation,
        **_inbound_fields(
            channel_id=channel.pk, provider_message_id=provider_message_id, sent_at=sent_at,
            type=type,
            body=body, payload=payload, reply_to_provider_id=reply_to_provider_id, now=now,
        ),
    )  # fmt: skip

    fields = ["last_customer_message_at", "last_activity_at"]
    # Pending means "waiting for the customer": they answered, so it needs an agent again.
    rule = rules.on_inbound(conversation.status)
    if rule.status != conversation.status:
        conversation.status = rule.status
        fields.append("status")
    if rule.event_reason:
        record_event(
            conversation,
            kind=Event.Kind.STATUS_CHANGED,
            actor=None,
            data=rules.back_to_new_event(),
            now=now,
        )
    previous = conversation.last_customer_message_at
    # Webhooks may arrive out of order: an older message never moves the window backwards.
    if previous is None or sent_at >= previous:
        conversation.last_message_preview = _preview(body, type)
        fields.append("last_message_preview")
    conversation.last_customer_message_at = _later(previous, sent_at)
    conversation.last_activity_at = _later(conversation.last_activity_at, now)
    conversation.save(update_fields=fields)
    return message, True


def receive_inbound(
    *,
    channel: Channel,
    wa_id: str | None,
    bsuid: str | None = None,
    profile_name: str = "",
    provider_message_id: str,
    sent_at: datetime,
    type: str,
    body: str = "",
    payload: dict | None = None,
    reply_to_provider_id: str = "",
    now: datetime | None = None,
) -> tuple[Message, bool]:
    """Store a customer's message in their open conversation, opening a New one if needed.

    Returns ``(message, created)``; a redelivery (same channel and provider id) writes nothing
    and returns the stored message with ``created=False``. A Pending conversation goes back to
    New (keeping its assignee); a Resolved one is never reopened: a new conversation opens.
    Locks the open conversation row; safe against concurrent first messages of a new contact and
    concurrent redeliveries. On PostgreSQL this is one statement (``conversations.inbound_sql``);
    elsewhere the same rules run through the ORM.
    """
    if not wa_id and not bsuid:
        raise DomainError(str(_("An inbound message names no sender.")))
    now = now or timezone.now()
    if is_postgres():
        return _receive_in_one_statement(
            channel_id=channel.pk, kind=channel.kind, wa_id=wa_id, bsuid=bsuid,
            profile_name=profile_name,
            provider_message_id=provider_message_id, sent_at=sent_at, type=type, body=body,
            payload=payload, reply_to_provider_id=reply_to_provider_id, now=now,
        )  # fmt: skip
    return _receive_through_orm(
        channel=channel, wa_id=wa_id, bsuid=bsuid, profile_name=profile_name,
        provider_message_id=provider_message_id, sent_at=sent_at, type=type, body=body,
        payload=payload, reply_to_provider_id=reply_to_provider_id, now=now,
    )  # fmt: skip


def receive_inbound_at_number(
    *, phone_number_id: str, **message: Any
) -> tuple[Message, bool] | None:
    """receive_inbound() (``message``: its keywords but ``channel``) on the active WhatsApp
    channel with this phone number id; ``None`` when there is no such channel. On PostgreSQL the
    channel is found by the same statement that stores the message (the webhook's path: one
    round trip less than reading it first)."""
    if not is_postgres():
        channel = Channel.objects.active_whatsapp({phone_number_id}).get(phone_number_id)
        return None if channel is None else receive_inbound(channel=channel, **message)
    if not message.get("wa_id") and not message.get("bsuid"):
        raise DomainError(str(_("An inbound message names no sender.")))
    try:
        return _receive_in_one_statement(
            phone_number_id=phone_number_id,
            kind=Channel.Kind.WHATSAPP,
            **{**message, "now": message.get("now") or timezone.now()},
        )
    except inbound_sql.UnknownChannel:
        return None


# Each attempt either stores the message, finds it stored, or (a concurrent writer won a race)
# writes nothing; the next attempt's fresh snapshot sees the winner's rows.
INBOUND_ATTEMPTS = 3


def _receive_in_one_statement(
    *, channel_id: int | None = None, phone_number_id: str | None = None, kind: str,
    wa_id: str | None, bsuid: str | None = None, profile_name: str = "",
    provider_message_id: str, sent_at: datetime, type: str, body: str = "",
    payload: dict | None = None, reply_to_provider_id: str = "", now: datetime,
) -> tuple[Message, bool]:  # fmt: skip
    for _attempt in range(INBOUND_ATTEMPTS):
        stored = inbound_sql.receive(
            channel_id=channel_id,
            phone_number_id=phone_number_id,
            kind=kind,
            wa_id=wa_id,
            bsuid=bsuid,
            profile_name=profile_name,
            provider_message_id=provider_message_id,
            sent_at=sent_at,
            type=type,
            body=body,
            payload=payload,
            reply_to_provider_id=reply_to_provider_id,
            preview=_preview(body, type),
            now=now,
        )
        if stored is None:
            continue
        if not stored.created:
            return Message.objects.get(pk=stored.message_id), False
        # The row the statement inserted, as the ORM would have loaded it.
        message = Message(
            id=stored.message_id,
            conversation_id=stored.conversation_id,
            **_inbound_fields(
                channel_id=stored.channel_id, provider_message_id=provider_message_id,
                sent_at=sent_at, type=type, body=body, payload=payload,
                reply_to_provider_id=reply_to_provider_id, now=now,
            ),
        )  # fmt: skip
        message._state.adding = False
        if stored.parked:
            message_changes.apply_parked(message, now=now)
        return message, True
    raise IntegrityError(
        f"inbound message {provider_message_id} lost a race {INBOUND_ATTEMPTS} times in a row"
    )


@transaction.atomic(savepoint=False)
def _receive_through_orm(
    *, channel: Channel, wa_id: str | None, bsuid: str | None, profile_name: str,
    provider_message_id: str, sent_at: datetime, type: str, body: str, payload: dict | None,
    reply_to_provider_id: str, now: datetime,
) -> tuple[Message, bool]:  # fmt: skip
    duplicate = Message.objects.filter(
        channel=channel, provider_message_id=provider_message_id
    ).first()
    if duplicate is not None:
        return duplicate, False
    contact = _contact_for(
        kind=channel.kind, wa_id=wa_id, bsuid=bsuid, profile_name=profile_name
    )
    kwargs = {
        "channel": channel,
        "contact": contact,
        "provider_message_id": provider_message_id,
        "sent_at": sent_at,
        "type": type,
        "body": body,
        "payload": payload,
        "reply_to_provider_id": reply_to_provider_id,
        "now": now,
    }
    for attempt in range(INBOUND_ATTEMPTS):
        try:
            with transaction.atomic():  # a savepoint, so a lost race leaves nothing behind
                message, created = _attach_inbound(**kwargs)
            # An edit or deletion that overtook this message (message_changes).
            message_changes.apply_parked(message, now=now)
            return message, created
        except IntegrityError:
            duplicate = Message.objects.filter(
                channel=channel, provider_message_id=provider_message_id
            ).first()
            if duplicate is not None:
                return duplicate, False
            if attempt == INBOUND_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


# --- outbound ----------------------------------------------------------------------------------


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
    if conversation.assignee_id is None and conversation.channel.auto_assign:
        conversation.assignee = author
        fields.append("assignee")
        record_event(
            conversation,
            kind=Event.Kind.ASSIGNED,
            actor=author,
            data={"from": None, "to": _user_ref(author), "auto": True},
            now=now,
        )
    if conversation.first_response_at is None:
        conversation.first_response_at = now
        conversation.first_responder = author
        fields += ["first_response_at", "first_responder"]
    conversation.last_activity_at = _later(conversation.last_activity_at, now)
    conversation.last_message_preview = _preview(message.body, message.type)
    conversation.save(update_fields=fields)

    from conversations.tasks import dispatch_message as dispatch_message_task

    transaction.on_commit(lambda: dispatch_message_task.delay(message.id))
    return message


@transaction.atomic
def reply(
    conversation: Conversation,
    *,
    author: AbstractBaseUser,
    body: str,
    now: datetime | None = None,
) -> Message:
    """Queue a free-form reply; it is sent by a task after commit.

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
        raise WindowClosed(str(WINDOW_CLOSED))
    return _store_outbound(
        conversation, author=author, now=now, type=Message.Type.TEXT, body=body
    )


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


# --- status and assignment ---------------------------------------------------------------------


@transaction.atomic
def move_conversation(
    conversation: Conversation,
    *,
    to: str,
    actor: AbstractBaseUser | None,
    now: datetime | None = None,
) -> Conversation:
    """Move a conversation to New, Pending or Resolved; the same status is a no-op.

    Needs Cap.TRIAGE. Resolved clears the assignee (an UNASSIGNED event) and records
    resolution "agent". Leaving Resolved is a reopen, refused when the contact already has another
    open conversation on the channel. Locks the conversation; bumps last_activity_at.
    """
    now = now or timezone.now()
    _require(actor, Cap.TRIAGE, conversation)
    if to not in Status.values:
        raise DomainError(str(UNKNOWN_STATUS))
    _lock(conversation)
    old = conversation.status
    if old == to:
        return conversation
    reopen = old == Status.RESOLVED
    if reopen and (
        Conversation.objects.filter(
            channel_id=conversation.channel_id,
            contact_id=conversation.contact_id,
            status__in=Conversation.OPEN,
        )
        .exclude(pk=conversation.pk)
        .exists()
    ):
        raise DomainError(str(ANOTHER_OPEN))

    fields = ["status", "last_activity_at"]
    previous_assignee = conversation.assignee if conversation.assignee_id else None
    conversation.status = to
    conversation.last_activity_at = _later(conversation.last_activity_at, now)
    if to == Status.RESOLVED:
        resolved = rules.resolved_fields(resolution=Conversation.Resolution.AGENT, now=now)
        for name, value in resolved.items():
            setattr(conversation, name, value)
        conversation.resolved_by = actor
        fields += [*resolved, "resolved_by"]
    elif reopen:
        conversation.resolved_at = None
        conversation.resolution = ""
        conversation.resolved_by = None
        fields += ["resolved_at", "resolution", "resolved_by"]
    try:
        with transaction.atomic():
            conversation.save(update_fields=fields)
    except IntegrityError:
        # An inbound message opened a new conversation between our check and our write.
        conversation.refresh_from_db()
        raise DomainError(str(ANOTHER_OPEN)) from None

    data = {"from": old, "to": to}
    if reopen:
        data["reopened"] = True
    record_event(conversation, kind=Event.Kind.STATUS_CHANGED, actor=actor, data=data, now=now)
    if previous_assignee is not None and to == Status.RESOLVED:
        record_event(
            conversation,
            kind=Event.Kind.UNASSIGNED,
            actor=actor,
            data={"from": _user_ref(previous_assignee), "reason": "resolved"},
            now=now,
        )
    return conversation


@transaction.atomic
def assign(
    conversation: Conversation,
    *,
    assignee: AbstractBaseUser,
    actor: AbstractBaseUser | None,
    now: datetime | None = None,
) -> Conversation:
    """Make ``assignee`` responsible for an open conversation; assigning the same user is a no-op.

    Needs Cap.ASSIGN for the actor (PermissionDenied otherwise) and Cap.BE_ASSIGNED, which is
    the reply role, for the assignee (DomainError otherwise). A Resolved conversation cannot be
    assigned. Locks the conversation.
    """
    now = now or timezone.now()
    _require(actor, Cap.ASSIGN, conversation)
    if not assignee.is_active or not _has_access(
        assignee, conversation.channel, Cap.BE_ASSIGNED
    ):
        raise AssigneeNotAllowed(str(ASSIGNEE_NO_ACCESS))
    _lock(conversation)
    if conversation.status == Status.RESOLVED:
        raise DomainError(str(ASSIGN_RESOLVED))
    if conversation.assignee_id == assignee.pk:
        return conversation
    previous = conversation.assignee if conversation.assignee_id else None
    conversation.assignee = assignee
    conversation.save(update_fields=["assignee"])
    record_event(
        conversation,
        kind=Event.Kind.ASSIGNED,
        actor=actor,
        data={"from": _user_ref(previous), "to": _user_ref(assignee)},
        now=now,
    )
    return conversation


@transaction.atomic
def unassign(
    conversation: Conversation, *, actor: AbstractBaseUser | None, now: datetime | None = None
) -> Conversation:
    """Clear the assignee; a no-op when there is none. Needs Cap.ASSIGN; locks the row."""
    now = now or timezone.now()
    _require(actor, Cap.ASSIGN, conversation)
    _lock(conversation)
    if conversation.assignee_id is None:
        return conversation
    previous = conversation.assignee
    conversation.assignee = None
    conversation.save(update_fields=["assignee"])
    record_event(
        conversation,
        kind=Event.Kind.UNASSIGNED,
        actor=actor,
        data={"from": _user_ref(previous)},
        now=now,
    )
    return conversation


# --- tags, topics, notes -----------------------------------------------------------------------


def _change_label(conversation, *, manager_name, item, add, kind, actor, now) -> Conversation:
    _require(actor, Cap.ANNOTATE, conversation)
    # Lock so two agents adding the same tag at once cannot both insert the through row.
    _lock(conversation)
    manager = getattr(conversation, manager_name)
    present = manager.filter(pk=item.pk).exists()
    if present == add:
        return conversation
    (manager.add if add else manager.remove)(item)
    record_event(
        conversation,
        kind=kind,
        actor=actor,
        data={"id": item.pk, "name": item.name},
        now=now or timezone.now(),
    )
    return conversation


@transaction.atomic
def add_tag(
    conversation: Conversation, *, tag: Tag, actor: AbstractBaseUser | None,
    now: datetime | None = None,
) -> Conversation:
    """Tag the conversation (Cap.ANNOTATE); a tag already there is a no-op without an event."""
    return _change_label(
        conversation, manager_name="tags", item=tag, add=True,
        kind=Event.Kind.TAG_ADDED, actor=actor, now=now,
    )


@transaction.atomic
def remove_tag(
    conversation: Conversation, *, tag: Tag, actor: AbstractBaseUser | None,
    now: datetime | None = None,
) -> Conversation:
    """Remove a tag (Cap.ANNOTATE); a tag not there is a no-op without an event."""
    return _change_label(
        conversation, manager_name="tags", item=tag, add=False,
        kind=Event.Kind.TAG_REMOVED, actor=actor, now=now,
    )


@transaction.atomic
def add_topic(
    conversation: Conversation, *, topic: Topic, actor: AbstractBaseUser | None,
    now: datetime | None = None,
) -> Conversation:
    """Add a topic (Cap.ANNOTATE); a topic already there is a no-op without an event."""
    return _change_label(
        conversation, manager_name="topics", item=topic, add=True,
        kind=Event.Kind.TOPIC_ADDED, actor=actor, now=now,
    )


@transaction.atomic
def remove_topic(
    conversation: Conversation, *, topic: Topic, actor: AbstractBaseUser | None,
    now: datetime | None = None,
) -> Conversation:
    """Remove a topic (Cap.ANNOTATE); a topic not there is a no-op without an event."""
    return _change_label(
        conversation, manager_name="topics", item=topic, add=False,
        kind=Event.Kind.TOPIC_REMOVED, actor=actor, now=now,
    )


@transaction.atomic
def add_note(
    conversation: Conversation, *, body: str, actor: AbstractBaseUser,
    now: datetime | None = None,
) -> Note:
    """Add an internal note, never sent to the customer (Cap.ANNOTATE; DomainError when empty).

    A note is not customer activity: last_activity_at (and so auto-resolve) is left alone.
    """
    now = now or timezone.now()
    _require(actor, Cap.ANNOTATE, conversation)
    body = (body or "").strip()
    if not body:
        raise DomainError(str(EMPTY_NOTE))
    if len(body) > MAX_NOTE_LENGTH:
        raise DomainError(str(NOTE_TOO_LONG))
    note = Note.objects.create(conversation=conversation, author=actor, body=body, created_at=now)
    record_event(
        conversation, kind=Event.Kind.NOTE_ADDED, actor=actor, data={"note": note.pk}, now=now
    )
    return note
