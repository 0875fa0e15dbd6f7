"""The webhook's messages that are not a customer's plain message: edits and deletions, echoes
of what the business wrote in the WhatsApp Business app, imported history, system messages.

``handles(event)`` says which parsed events come here; ``apply(channel, event)`` stores one of
them, ``import_history(channel, events)`` stores a history webhook's messages in batches. Each
is idempotent on the wamid, like ``services.receive_inbound``.

Why not the one-statement path (``inbound_sql``): these kinds are rare, touch rows the plain
statement does not (another message, a second contact, ``ParkedChange``) and need a decision
between steps (is the original stored? does the new number already have a contact?), so they
run through the ORM in one transaction each, under the same lock order (the conversation row
first, then its messages). The plain statement only reports whether a change is parked for the
message it stored (see message_changes). See docs/whatsapp.md and
docs/conversation-lifecycle.md.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Case, When
from django.utils import timezone

from channels_app import transports
from channels_app.models import Channel
from channels_app.transports import InboundMessage
from conversations import jobs
from conversations.models import Contact, Conversation, Event, Message, ParkedChange
from conversations.services import announcements, message_changes
from conversations.services.events import _later, _preview, record_event
from conversations.services.inbound import _contact_for

logger = logging.getLogger(__name__)

Status = Conversation.Status
NUMBER_CHANGES = ("user_changed_number", "customer_changed_number")
IDENTITY_CHANGES = ("customer_identity_changed", "user_identity_changed")
# A history message's last known delivery state (Meta's history_context.status).
HISTORY_DELIVERY = {
    "DELIVERED": Message.Delivery.DELIVERED,
    "READ": Message.Delivery.READ,
    "PLAYED": Message.Delivery.READ,
    "ERROR": Message.Delivery.FAILED,
}


def handles(event: InboundMessage) -> bool:
    """Whether ``event`` is stored here rather than by ``services.receive_inbound``."""
    return bool(event.source) or event.type in ("edit", "revoke", "system")


def _message_type(event: InboundMessage) -> tuple[str, dict]:
    payload = dict(event.payload)
    if event.type in Message.Type.values and event.type != Message.Type.TEMPLATE:
        return event.type, payload
    payload.setdefault("original_type", event.type)
    return Message.Type.UNSUPPORTED, payload


def _stored(channel: Channel, wamid: str) -> Message | None:
    return Message.objects.filter(channel=channel, provider_message_id=wamid).first()


def _download_after_commit(message: Message) -> None:
    if (message.payload or {}).get("media_id") and not (message.payload or {}).get("file"):
        jobs.download_media(message.pk)


def apply(channel: Channel, event: InboundMessage, *, now: datetime | None = None) -> str:
    """Store one event that ``handles``; returns the outcome counted by the webhook
    (``messages``, ``edits``, ``deletions``, ``parked``, ``duplicates``, ...)."""
    now = now or timezone.now()
    if event.source == "history":
        return import_history(channel, [event], now=now).most_common(1)[0][0]
    if event.type in ("edit", "revoke"):
        return _change(channel, event, now=now)
    if event.source == "echo":
        return receive_echo(channel, event, now=now)
    return receive_system(channel, event, now=now)


# --- edits and deletions -----------------------------------------------------------------------


@transaction.atomic
def _change(channel: Channel, event: InboundMessage, *, now: datetime) -> str:
    target_id = event.payload["original_message_id"]
    kind = ParkedChange.Kind.EDIT if event.type == "edit" else ParkedChange.Kind.REVOKE
    data = {"body": event.body} if kind == ParkedChange.Kind.EDIT else {}
    # A customer changes only what the customer sent, the business only what it sent.
    data["outbound"] = event.outbound
    original = _stored(channel, target_id)
    if original is not None and not message_changes.same_sender(original, data):
        logger.warning("%s %s names another sender's message", kind, event.provider_message_id)
        return "ignored"
    if original is None:
        # The original is not here yet (webhooks come in any order): applied when it arrives.
        parked = message_changes.park(
            channel_id=channel.pk, change_id=event.provider_message_id, target_id=target_id,
            kind=kind, data=data, sent_at=event.sent_at, now=now,
        )  # fmt: skip
        return "parked" if parked else "duplicates"
    applied = message_changes.apply_change(
        original, kind=kind, change_id=event.provider_message_id, data=data,
        sent_at=event.sent_at, now=now,
    )  # fmt: skip
    if not applied:
        return "duplicates"
    return "edits" if kind == ParkedChange.Kind.EDIT else "deletions"


# --- echoes from the WhatsApp Business app -----------------------------------------------------


def _open_conversation(
    channel: Channel, contact: Contact, *, status: str, at: datetime, now: datetime, data: dict
) -> Conversation:
    """The contact's open conversation on the channel, locked; opened in ``status`` if none."""
    conversation = (
        Conversation.objects.select_for_update(no_key=True)
        .filter(channel=channel, contact=contact, status__in=Conversation.OPEN)
        .first()
    )
    if conversation is None:
        conversation = Conversation.objects.create(
            channel=channel, contact=contact, status=status, opened_at=at, last_activity_at=now
        )
        record_event(conversation, kind=Event.Kind.OPENED, actor=None, data=data, now=now)
        announcements.conversation_changed([conversation.pk], change=Event.Kind.OPENED)
    return conversation


@transaction.atomic
def receive_echo(channel: Channel, event: InboundMessage, *, now: datetime) -> str:
    """A message the business sent from the WhatsApp Business app on this number.

    Stored as an outbound message ``via`` the app, already sent (nothing is ever dispatched for
    it), in the customer's open conversation; without one a conversation opens in Pending (the
    business wrote, the customer is to answer). It counts as the desk's reply: the first one sets
    ``first_response_at`` (no responder), and ``sent_outside_window`` says whether the 24-hour
    window was closed. It never moves the window, which only the customer's messages open.
    """
    if _stored(channel, event.provider_message_id) is not None:
        return "duplicates"
    contact = _contact_for(
        kind=channel.kind, wa_id=event.wa_id, bsuid=event.bsuid, profile_name=""
    )
    conversation = _open_conversation(
        channel, contact, status=Status.PENDING, at=event.sent_at, now=now,
        data={"via": Message.Via.BUSINESS_APP},
    )  # fmt: skip
    kind, payload = _message_type(event)
    message = Message.objects.create(
        conversation=conversation,
        channel=channel,
        direction=Message.Direction.OUTBOUND,
        type=kind,
        body=event.body,
        payload=payload,
        provider_message_id=event.provider_message_id,
        reply_to_provider_id=event.reply_to_provider_id,
        delivery=Message.Delivery.SENT,
        via=Message.Via.BUSINESS_APP,
        sent_outside_window=not conversation.is_window_open(event.sent_at),
        created_at=now,
        sent_at=event.sent_at,
    )
    fields = ["last_activity_at", "last_message_preview"]
    if conversation.first_response_at is None:
        # As for a reply: when the desk stored it (outbound.recount_first_response and the
        # reports' rebuild read created_at), the responder unknown (no desk user wrote it).
        conversation.first_response_at = now
        fields.append("first_response_at")
    conversation.waiting_since = None  # the desk answered from the app
    fields.append("waiting_since")
    conversation.last_activity_at = _later(conversation.last_activity_at, now)
    conversation.last_message_preview = _preview(event.body, kind)
    conversation.save(update_fields=fields)
    announcements.sent([message.pk], author_id=None)
    message_changes.apply_parked(message, now=now)
    _download_after_commit(message)
    return "echoes"


# --- history -----------------------------------------------------------------------------------


def import_history(
    channel: Channel, events: list[InboundMessage], *, now: datetime | None = None
) -> Counter:
    """Store a history webhook's past messages, ``HISTORY_IMPORT_BATCH_SIZE`` per transaction.

    Each message once (by wamid; a redelivered chunk stores nothing), in the customer's history
    conversation (``_history_conversation``: Resolved, never the current one, so no status,
    window or first response changes and nothing lands in New). A later history message with
    the media of a ``media_placeholder`` fills that placeholder in. Returns a Counter of
    outcomes.
    """
    now = now or timezone.now()
    counts: Counter = Counter()
    size = max(1, settings.HISTORY_IMPORT_BATCH_SIZE)
    for start in range(0, len(events), size):
        with transaction.atomic():
            counts.update(_import_batch(channel, events[start : start + size], now=now))
    return counts


def _import_batch(
    channel: Channel, events: list[InboundMessage], *, now: datetime
) -> Counter:
    counts: Counter = Counter()
    stored = {
        m.provider_message_id: m
        for m in Message.objects.filter(
            channel=channel, provider_message_id__in=[e.provider_message_id for e in events]
        )
    }
    by_customer: dict[tuple, list] = defaultdict(list)
    for event in events:
        old = stored.get(event.provider_message_id)
        if old is None:
            by_customer[(event.wa_id, event.bsuid)].append(event)
        elif (old.payload or {}).get("original_type") == "media_placeholder" and event.media_id:
            _fill_placeholder(old, event)
            counts["history_media"] += 1
        else:
            counts["duplicates"] += 1
    for (wa_id, bsuid), thread in by_customer.items():
        # One webhook may repeat a message (thread and media chunk): the first copy is kept.
        unique = list({e.provider_message_id: e for e in reversed(thread)}.values())[::-1]
        contact = _contact_for(
            kind=channel.kind, wa_id=wa_id, bsuid=bsuid, profile_name=""
        )
        conversation = _history_conversation(channel, contact, unique, now=now)
        rows = [_history_row(channel, conversation, e, now=now) for e in unique]
        Message.objects.bulk_create(rows, ignore_conflicts=True)
        counts["history"] += len(rows)
        _announce_history(channel, unique)
        for row in Message.objects.filter(
            channel=channel,
            provider_message_id__in=[e.provider_message_id for e in unique if e.media_id],
        ):
            _download_after_commit(row)
    return counts


def _announce_history(channel: Channel, events: list[InboundMessage]) -> None:
    """message_received / message_sent for a thread's imported messages (the customer's and
    the business's), read back by wamid: bulk_create with ignore_conflicts returns no ids."""
    stored = Message.objects.filter(
        channel=channel, provider_message_id__in=[e.provider_message_id for e in events]
    ).values_list("pk", "direction")
    ids = {Message.Direction.INBOUND: [], Message.Direction.OUTBOUND: []}
    for pk, direction in stored:
        ids[direction].append(pk)
    announcements.received(ids[Message.Direction.INBOUND])
    announcements.sent(ids[Message.Direction.OUTBOUND], author_id=None)


def _history_conversation(
    channel: Channel, contact: Contact, events: list, *, now: datetime
) -> Conversation:
    """The customer's history conversation on the channel: Resolved, opened with
    ``{"via": "history"}``, spanning every imported message (chunks come in any order and
    phases go back in time). Never the current conversation: its thread, window and first
    response stay the desk's own, and the history shows among the earlier conversations."""
    first = min(e.sent_at for e in events)
    last = max(e.sent_at for e in events)
    customer = [e.sent_at for e in events if not e.outbound]
    newest = max(events, key=lambda e: e.sent_at)
    preview = _preview(newest.body, _message_type(newest)[0])
    conversation = (
        Conversation.objects.select_for_update(no_key=True)
        .filter(
            channel=channel,
            contact=contact,
            status=Status.RESOLVED,
            events__kind=Event.Kind.OPENED,
            events__data__via=Message.Via.HISTORY,
        )
        .first()
    )
    if conversation is None:
        conversation = Conversation.objects.create(
            channel=channel,
            contact=contact,
            status=Status.RESOLVED,
            opened_at=first,
            last_customer_message_at=max(customer) if customer else None,
            last_activity_at=last,
            resolved_at=last,
            last_message_preview=preview,
        )
        record_event(
            conversation, kind=Event.Kind.OPENED, actor=None,
            data={"via": Message.Via.HISTORY}, now=now,
        )  # fmt: skip
        announcements.conversation_changed([conversation.pk], change=Event.Kind.OPENED)
        return conversation
    if last >= conversation.last_activity_at:
        conversation.last_message_preview = preview
    conversation.opened_at = min(conversation.opened_at, first)
    conversation.last_activity_at = max(conversation.last_activity_at, last)
    conversation.resolved_at = max(filter(None, (conversation.resolved_at, last)))
    if customer:
        conversation.last_customer_message_at = _later(
            conversation.last_customer_message_at, max(customer)
        )
    conversation.save(
        update_fields=[
            "opened_at", "last_activity_at", "resolved_at", "last_customer_message_at",
            "last_message_preview",
        ]
    )  # fmt: skip
    return conversation


def _history_row(
    channel: Channel, conversation: Conversation, event: InboundMessage, *, now
) -> Message:
    kind, payload = _message_type(event)
    status = str(payload.get("history_status", "")).upper()
    if event.outbound:
        delivery = HISTORY_DELIVERY.get(status, Message.Delivery.SENT)
    else:
        delivery = Message.Delivery.RECEIVED
    return Message(
        conversation=conversation,
        channel=channel,
        direction=Message.Direction.OUTBOUND if event.outbound else Message.Direction.INBOUND,
        type=kind,
        body=event.body,
        payload=payload,
        provider_message_id=event.provider_message_id,
        reply_to_provider_id=event.reply_to_provider_id,
        delivery=delivery,
        via=Message.Via.HISTORY,
        # The thread is ordered by created_at: a past message sits where it was written.
        created_at=event.sent_at,
        sent_at=event.sent_at,
    )


def _fill_placeholder(message: Message, event: InboundMessage) -> None:
    kind, payload = _message_type(event)
    message.type = kind
    message.body = event.body
    message.payload = {
        **{k: v for k, v in (message.payload or {}).items() if k != "original_type"},
        **payload,
    }
    message.save(update_fields=["type", "body", "payload"])
    announcements.message_changed([message.pk], change="media")
    _download_after_commit(message)


# --- system messages ---------------------------------------------------------------------------


@transaction.atomic
def receive_system(channel: Channel, event: InboundMessage, *, now: datetime) -> str:
    """A system message: a number change re-keys the contact, an identity change warns.

    ``user_changed_number`` (``system.wa_id``) / ``customer_changed_number``
    (``system.new_wa_id``): the contact of the old number takes the new one; if the new number
    already has a contact (the customer wrote from it first), that contact's conversations move
    to this one and it is removed, so exactly one contact remains. The open conversation goes
    on; the thread gets the system line and the history a ``number_changed`` event.
    ``customer_identity_changed``: the conversation shows a warning (``identity_changed_at``) and
    the history an ``identity_changed`` event. Neither moves the status or the window.
    """
    if _stored(channel, event.provider_message_id) is not None:
        return "duplicates"
    system = event.payload.get("system") or {}
    kind = system.get("type", "")
    new_wa_id = event.payload.get("new_wa_id")
    if kind in NUMBER_CHANGES and new_wa_id and event.wa_id and new_wa_id != event.wa_id:
        contact = rekey_contact(kind=channel.kind, old_wa_id=event.wa_id, new_wa_id=new_wa_id)
        conversation = _line_conversation(channel, contact, event, now=now)
        record_event(
            conversation, kind=Event.Kind.NUMBER_CHANGED, actor=None,
            data={"from": event.wa_id, "to": new_wa_id}, now=now,
        )  # fmt: skip
        announcements.conversation_changed([conversation.pk], change=Event.Kind.NUMBER_CHANGED)
        _store_line(conversation, event, now=now)
        return "number_changes"
    contact = _contact_for(
        kind=channel.kind, wa_id=event.wa_id, bsuid=event.bsuid, profile_name=event.profile_name
    )
    conversation = _line_conversation(channel, contact, event, now=now)
    if kind in IDENTITY_CHANGES or "identity" in event.payload:
        conversation.identity_changed_at = event.sent_at
        conversation.save(update_fields=["identity_changed_at"])
        record_event(
            conversation, kind=Event.Kind.IDENTITY_CHANGED, actor=None, data={}, now=now
        )
        announcements.conversation_changed([conversation.pk], change=Event.Kind.IDENTITY_CHANGED)
        _store_line(conversation, event, now=now)
        return "identity_changes"
    _store_line(conversation, event, now=now)
    return "system"


def _line_conversation(
    channel: Channel, contact: Contact, event: InboundMessage, *, now: datetime
) -> Conversation:
    """Where a system line goes: the open conversation, else the latest, else a new one in New
    (a system message about a customer the desk has never seen is still worth a look)."""
    conversation = (
        Conversation.objects.select_for_update(no_key=True)
        .filter(channel=channel, contact=contact)
        # The open one first (at most one), else the latest.
        .order_by(Case(When(status__in=Conversation.OPEN, then=0), default=1), "-opened_at")
        .first()
    )
    if conversation is not None:
        return conversation
    return _open_conversation(
        channel, contact, status=Status.NEW, at=event.sent_at, now=now, data={}
    )


def _store_line(conversation: Conversation, event: InboundMessage, *, now) -> Message:
    line = Message.objects.create(
        conversation=conversation,
        channel_id=conversation.channel_id,
        direction=Message.Direction.INBOUND,
        type=Message.Type.SYSTEM,
        body=event.body,
        payload=dict(event.payload),
        provider_message_id=event.provider_message_id,
        delivery=Message.Delivery.RECEIVED,
        created_at=now,
        sent_at=event.sent_at,
    )
    announcements.received([line.pk])
    return line


def rekey_contact(*, kind: str, old_wa_id: str, new_wa_id: str) -> Contact:
    """The one contact of a customer who changed their number from ``old_wa_id`` to
    ``new_wa_id``, keyed by the new one. Idempotent: a second call finds it re-keyed."""
    old = Contact.objects.select_for_update().filter(kind=kind, wa_id=old_wa_id).first()
    new = Contact.objects.select_for_update().filter(kind=kind, wa_id=new_wa_id).first()
    if old is None:
        return new or _contact_for(
            kind=kind, wa_id=new_wa_id, bsuid=None, profile_name=""
        )
    if new is not None:
        _merge_into(old, new)
    old.wa_id = new_wa_id
    old.phone = transports.get(kind).identity(wa_id=new_wa_id, bsuid=None).phone
    old.save(update_fields=["wa_id", "phone"])
    return old


def _merge_into(keep: Contact, drop: Contact) -> None:
    """Move ``drop``'s conversations to ``keep`` and delete ``drop``. Where both have an open
    conversation on a channel, ``drop``'s messages, notes and events join ``keep``'s."""
    for conversation in Conversation.objects.select_for_update(no_key=True).filter(contact=drop):
        target = None
        if conversation.is_open:
            target = (
                Conversation.objects.select_for_update(no_key=True)
                .filter(
                    channel_id=conversation.channel_id,
                    contact=keep,
                    status__in=Conversation.OPEN,
                )
                .first()
            )
        if target is None:
            Conversation.objects.filter(pk=conversation.pk).update(contact=keep)
            continue
        conversation.messages.update(conversation=target)
        conversation.notes.update(conversation=target)
        conversation.events.update(conversation=target)
        target.last_activity_at = _later(
            target.last_activity_at, conversation.last_activity_at
        )
        if conversation.last_customer_message_at is not None:
            target.last_customer_message_at = _later(
                target.last_customer_message_at, conversation.last_customer_message_at
            )
        # Its messages and events join the target's thread: the target now began when the
        # earlier of the two did (the page prunes the month partitions from opened_at on,
        # docs/partitions.md).
        target.opened_at = min(target.opened_at, conversation.opened_at)
        target.save(update_fields=["last_activity_at", "last_customer_message_at", "opened_at"])
        conversation.delete()
    keep.bsuid = keep.bsuid or drop.bsuid
    drop.delete()
    if keep.bsuid:
        keep.save(update_fields=["bsuid"])
