"""TEMPORARY stand-in for services.receive_inbound until the inbox helper lands it."""

from django.db import transaction
from django.utils import timezone

from conversations.models import Contact, Conversation, Message


@transaction.atomic
def receive_inbound(
    *,
    channel,
    wa_id,
    bsuid=None,
    profile_name="",
    provider_message_id,
    sent_at,
    type,
    body="",
    payload=None,
    reply_to_provider_id="",
    now=None,
):
    now = now or timezone.now()
    existing = Message.objects.filter(
        channel=channel, provider_message_id=provider_message_id
    ).first()
    if existing:
        return existing, False
    contact, _ = Contact.objects.get_or_create(
        wa_id=wa_id, defaults={"bsuid": bsuid, "profile_name": profile_name}
    )
    conv = Conversation.objects.filter(
        channel=channel, contact=contact, status__in=["new", "pending"]
    ).first()
    if conv is None:
        conv = Conversation.objects.create(
            channel=channel, contact=contact, opened_at=now, last_activity_at=now
        )
    conv.status = "new"
    conv.last_customer_message_at = max(filter(None, [conv.last_customer_message_at, sent_at]))
    conv.last_activity_at = now
    conv.save()
    m = Message.objects.create(
        conversation=conv,
        channel=channel,
        direction="in",
        type=type,
        body=body,
        payload=payload or {},
        provider_message_id=provider_message_id,
        reply_to_provider_id=reply_to_provider_id,
        delivery="received",
        created_at=now,
        sent_at=sent_at,
    )
    return m, True
