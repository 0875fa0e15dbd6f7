"""Customers' messages in: the ORM path (every database) and the one-statement path
(PostgreSQL, ``inbound_sql``), the same rules (conversations/rules.py) either way."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from channels_app.models import Channel
from config.db_features import is_postgres
from conversations import rules
from conversations.models import Contact, Conversation, Event, Message
from conversations.services import announcements, inbound_sql, message_changes
from conversations.services.events import DomainError, _later, _preview, record_event


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
        conversation=conversation,
        **_inbound_fields(
            channel_id=channel.pk, provider_message_id=provider_message_id, sent_at=sent_at,
            type=type,
            body=body, payload=payload, reply_to_provider_id=reply_to_provider_id, now=now,
        ),
    )  # fmt: skip

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
        announcements.received(
            [message.pk],
            created=[stored.conversation_id] if stored.opened else [],
            reopened=[stored.conversation_id] if stored.reopened else [],
        )
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
