"""Customers' messages in: the ORM path (every database) and the one-statement path
(PostgreSQL, ``inbound_sql``), the same rules (conversations/rules.py) either way.

A message arrives as one value object, ``channels_app.transports.InboundMessage``, as the
medium's parser produced it (its type and time already the desk's: ``inbound_events``); its
sender becomes a contact through the medium's transport (``identity``, keyed on the channel's
kind). Which path stores it is chosen in one place, ``_store``.
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from channels_app import transports
from channels_app.models import Channel
from channels_app.transports import ContactIdentity, InboundMessage
from config.db_features import is_postgres
from conversations import rules
from conversations.models import Contact, Conversation, Event, Message
from conversations.services import announcements, inbound_sql, message_changes
from conversations.services.events import DomainError, _later, _preview, record_event


def _contact_for(
    *, kind: str, wa_id: str | None, bsuid: str | None, profile_name: str = ""
) -> Contact:
    """The contact of this sender on the medium ``kind``, found (and completed: a new profile
    name, a missing wa_id or BSUID) or stored, as the medium's transport identifies them."""
    identity = _identity(kind, wa_id=wa_id, bsuid=bsuid, profile_name=profile_name)
    wa_id, bsuid, profile_name = identity.wa_id, identity.bsuid, identity.profile_name
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
                "phone": identity.phone,
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
        contact.wa_id, contact.phone = wa_id, contact.phone or identity.phone
        changed += ["wa_id", "phone"]
    if changed:
        contact.save(update_fields=changed)
    return contact


def _identity(kind: str, **sender) -> ContactIdentity:
    return transports.get(kind).identity(**sender)


def _sender(message: InboundMessage) -> dict:
    return {"wa_id": message.wa_id, "bsuid": message.bsuid, "profile_name": message.profile_name}


def _inbound_fields(message: InboundMessage, *, channel_id: int, now: datetime) -> dict:
    """The fields of a stored inbound message (both paths of receive_inbound)."""
    return {
        "channel_id": channel_id,
        "direction": Message.Direction.INBOUND,
        "type": message.type,
        "body": message.body or "",
        "payload": message.payload or {},
        "provider_message_id": message.provider_message_id,
        "reply_to_provider_id": message.reply_to_provider_id or "",
        "delivery": Message.Delivery.RECEIVED,
        "created_at": now,
        "sent_at": message.sent_at,
    }


def _attach_inbound(
    *, channel: Channel, contact: Contact, inbound: InboundMessage, now: datetime
) -> tuple[Message, bool]:
    sent_at, body, type = inbound.sent_at, inbound.body, inbound.type
    conversation = (
        Conversation.objects.select_for_update(no_key=True)
        .filter(channel=channel, contact=contact, status__in=Conversation.OPEN)
        .first()
    )
    opened = conversation is None
    if opened:
        # Two first messages at once: the partial unique constraint lets only one INSERT win;
        # the loser's savepoint rolls back and the caller retries, finding the winner's row.
        conversation = Conversation.objects.create(
            channel=channel,
            contact=contact,
            status=rules.on_inbound(None).status,
            opened_at=sent_at,
            last_customer_message_at=sent_at,
            last_activity_at=now,
            waiting_since=now,
        )
        record_event(conversation, kind=Event.Kind.OPENED, actor=None, now=now)
    # A redelivery that raced the first delivery fails the INSERT below on the unique provider
    # id; the caller's savepoint rolls back and its retry returns the stored message.

    message = Message.objects.create(
        conversation=conversation, **_inbound_fields(inbound, channel_id=channel.pk, now=now)
    )

    fields = ["last_customer_message_at", "last_activity_at"]
    # Pending means "waiting for the customer": they answered, so it needs an agent again.
    before = conversation.status
    rule = rules.on_inbound(before)
    if rule.status != before:
        conversation.status = rule.status
        fields.append("status")
    if conversation.snoozed_until is not None:  # a snoozed one wakes at once
        conversation.snoozed_until = None
        fields.append("snoozed_until")
    if rule.event_reason:
        record_event(
            conversation,
            kind=Event.Kind.STATUS_CHANGED,
            actor=None,
            data=rules.back_to_new_event(before),
            now=now,
        )
    previous = conversation.last_customer_message_at
    # Webhooks may arrive out of order: an older message never moves the window backwards.
    if previous is None or sent_at >= previous:
        conversation.last_message_preview = _preview(body, type)
        fields.append("last_message_preview")
    conversation.last_customer_message_at = _later(previous, sent_at)
    conversation.last_activity_at = _later(conversation.last_activity_at, now)
    if conversation.waiting_since is None:  # the oldest unanswered message counts
        conversation.waiting_since = now
        fields.append("waiting_since")
    conversation.save(update_fields=fields)
    announcements.received(
        [message.pk],
        created=[conversation.pk] if opened else [],
        reopened=[conversation.pk] if rule.event_reason else [],
    )
    return message, True


def receive_inbound(
    *, channel: Channel, message: InboundMessage, now: datetime | None = None
) -> tuple[Message, bool]:
    """Store a customer's message in their open conversation, opening a New one if needed.

    Returns ``(message, created)``; a redelivery (same channel and provider id) writes nothing
    and returns the stored message with ``created=False``. A Pending conversation goes back to
    New (keeping its assignee); a Resolved one is never reopened: a new conversation opens.
    Locks the open conversation row; safe against concurrent first messages of a new contact and
    concurrent redeliveries. On PostgreSQL this is one statement (``conversations.inbound_sql``);
    elsewhere the same rules run through the ORM. DomainError when the message names no sender.
    """
    # With its channel given, _store always stores or finds the message (never None).
    return _store(channel=channel, kind=channel.kind, inbound=message, now=now)


def receive_inbound_at_number(
    *, message: InboundMessage, kind: str = Channel.Kind.WHATSAPP, now: datetime | None = None
) -> tuple[Message, bool] | None:
    """receive_inbound() on the active channel of ``kind`` whose provider address is the
    message's ``phone_number_id``; ``None`` when there is no such channel. On PostgreSQL the
    channel is found by the same statement that stores the message (the webhook's path: one
    round trip less than reading it first)."""
    return _store(channel=None, kind=kind, inbound=message, now=now)


def store_inbound_at_number(
    *, message: InboundMessage, kind: str = Channel.Kind.WHATSAPP, now: datetime | None = None
) -> tuple[int, bool] | None:
    """receive_inbound_at_number() for a caller that needs only the message's id (the
    webhook): ``(message id, created)``. On PostgreSQL no Message is built from the statement's
    result, nor read back for a redelivery."""
    return _store(channel=None, kind=kind, inbound=message, now=now, load=False)


def _store(
    *,
    channel: Channel | None,
    kind: str,
    inbound: InboundMessage,
    now: datetime | None,
    load: bool = True,
) -> tuple[Message, bool] | tuple[int, bool] | None:
    """The one place the path is chosen: PostgreSQL's one statement, or the ORM (the reference,
    SQLite). Without ``channel`` the message's ``phone_number_id`` names it (None: unknown).
    ``load``: the message as a Message, else its id."""
    if not inbound.wa_id and not inbound.bsuid:
        raise DomainError(str(_("An inbound message names no sender.")))
    now = now or timezone.now()
    if is_postgres():
        try:
            return _receive_in_one_statement(
                channel_id=None if channel is None else channel.pk,
                kind=kind,
                message=inbound,
                now=now,
                load=load,
            )
        except inbound_sql.UnknownChannel:
            return None
    if channel is None:
        number = inbound.phone_number_id
        channel = Channel.objects.active_at(kind, {number}).get(number)
        if channel is None:
            return None
    stored, created = _receive_through_orm(channel=channel, message=inbound, now=now)
    return (stored, created) if load else (stored.pk, created)


# Each attempt either stores the message, finds it stored, or (a concurrent writer won a race)
# writes nothing; the next attempt's fresh snapshot sees the winner's rows.
INBOUND_ATTEMPTS = 3


def _receive_in_one_statement(
    *,
    channel_id: int | None = None,
    kind: str,
    message: InboundMessage,
    now: datetime,
    load: bool = True,
) -> tuple[Message, bool] | tuple[int, bool]:
    """The statement for the channel ``channel_id``, or (None) for the active channel of
    ``kind`` at the message's ``phone_number_id`` (``inbound_sql.UnknownChannel`` if none).
    ``load``: the message as a Message (built from what the statement returned, as the ORM
    would have loaded it), else only its id."""
    identity = _identity(kind, **_sender(message))
    preview = _preview(message.body, message.type)
    for _attempt in range(INBOUND_ATTEMPTS):
        stored = inbound_sql.receive(
            channel_id=channel_id, identity=identity, message=message, preview=preview, now=now
        )
        if stored is None:
            continue
        if not stored.created:
            if not load:
                return stored.message_id, False
            return Message.objects.get(pk=stored.message_id), False
        announcements.received(
            [stored.message_id],
            created=[stored.conversation_id] if stored.opened else [],
            reopened=[stored.conversation_id] if stored.reopened else [],
        )
        if not (load or stored.parked):
            return stored.message_id, True
        # The row the statement inserted, as the ORM would have loaded it.
        row = Message(
            id=stored.message_id,
            conversation_id=stored.conversation_id,
            **_inbound_fields(message, channel_id=stored.channel_id, now=now),
        )
        row._state.adding = False
        if stored.parked:
            message_changes.apply_parked(row, now=now)
        return (row, True) if load else (row.pk, True)
    raise IntegrityError(
        f"inbound message {message.provider_message_id} lost a race {INBOUND_ATTEMPTS} times"
        " in a row"
    )


@transaction.atomic(savepoint=False)
def _receive_through_orm(
    *, channel: Channel, message: InboundMessage, now: datetime
) -> tuple[Message, bool]:
    wamid = message.provider_message_id
    duplicate = Message.objects.filter(channel=channel, provider_message_id=wamid).first()
    if duplicate is not None:
        return duplicate, False
    contact = _contact_for(kind=channel.kind, **_sender(message))
    for attempt in range(INBOUND_ATTEMPTS):
        try:
            with transaction.atomic():  # a savepoint, so a lost race leaves nothing behind
                stored, created = _attach_inbound(
                    channel=channel, contact=contact, inbound=message, now=now
                )
            # An edit or deletion that overtook this message (message_changes).
            message_changes.apply_parked(stored, now=now)
            return stored, created
        except IntegrityError:
            duplicate = Message.objects.filter(channel=channel, provider_message_id=wamid).first()
            if duplicate is not None:
                return duplicate, False
            if attempt == INBOUND_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover
