"""The desk writes first: an approved template to a phone number (the messaging API's send).

The contact is found by its WhatsApp ID or created; the message joins the contact's open
conversation on the channel (New or Pending), or a new conversation opens in Pending (the desk
is waiting for the customer) with an OPENED event naming who sent it. ``send_template`` does the
rest (sendable template, parameters, the template guards such as the marketing opt-out, dispatch
after commit), in the same transaction: a refused send leaves no contact change, conversation or
event behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from channels_app.models import Channel, MessageTemplate
from conversations.models import Conversation, Event, Message
from conversations.services import announcements
from conversations.services.events import Status, record_event
from conversations.services.inbound import _contact_for
from conversations.services.outbound import send_template


@dataclass(frozen=True)
class ProactiveSend:
    message: Message
    conversation: Conversation
    created_conversation: bool


def _open_conversation(channel: Channel, contact, *, via: str, author, now: datetime):
    """The contact's open conversation on the channel, locked, or a new one in Pending."""
    for _attempt in range(2):
        found = (
            Conversation.objects.select_for_update(no_key=True)
            .filter(channel=channel, contact=contact, status__in=Conversation.OPEN)
            .first()
        )
        if found is not None:
            return found, False
        try:
            with transaction.atomic():  # a concurrent first send wins the partial unique index
                conversation = Conversation.objects.create(
                    channel=channel,
                    contact=contact,
                    status=Status.PENDING,
                    opened_at=now,
                    last_activity_at=now,
                )
        except IntegrityError:
            continue
        record_event(
            conversation, kind=Event.Kind.OPENED, actor=author,
            data={"status": Status.PENDING, "via": via}, now=now,
        )  # fmt: skip
        announcements.conversation_changed(
            [conversation.pk], change=Event.Kind.OPENED, actor_id=getattr(author, "pk", None)
        )
        return conversation, True
    raise IntegrityError("no open conversation found or created")  # pragma: no cover


@transaction.atomic
def send_template_to_number(
    channel: Channel,
    *,
    wa_id: str,
    template: MessageTemplate,
    params: list[str],
    author: AbstractBaseUser | None = None,
    via: str = "",
    now: datetime | None = None,
) -> ProactiveSend:
    """Queue ``template`` to the customer with this WhatsApp ID (international digits) on
    ``channel``. ``author=None`` is the system (the API names its token in ``via``); a user
    needs Cap.REPLY. Raises DomainError as ``send_template`` does."""
    now = now or timezone.now()
    contact = _contact_for(kind=channel.kind, wa_id=wa_id, bsuid=None, profile_name="")
    conversation, created = _open_conversation(
        channel, contact, via=via, author=author, now=now
    )
    message = send_template(
        conversation, author=author, template=template, params=params, now=now
    )
    return ProactiveSend(message=message, conversation=conversation, created_conversation=created)
