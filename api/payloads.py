"""How the API and its webhooks write a conversation and a message (one shape for both)."""

from __future__ import annotations

from conversations.models import Conversation, Message


def _iso(value):
    return value.isoformat() if value else None


def conversation_data(conversation: Conversation) -> dict:
    contact = conversation.contact
    return {
        "id": conversation.pk,
        "channel_id": conversation.channel_id,
        "status": conversation.status,
        "resolution": conversation.resolution or None,
        "assignee_id": conversation.assignee_id,
        "opened_at": _iso(conversation.opened_at),
        "resolved_at": _iso(conversation.resolved_at),
        "last_activity_at": _iso(conversation.last_activity_at),
        "contact": {
            "id": contact.pk,
            "wa_id": contact.wa_id,
            "phone": contact.phone,
            "name": contact.profile_name,
        },
    }


def message_data(message: Message) -> dict:
    return {
        "id": message.pk,
        "conversation_id": message.conversation_id,
        "channel_id": message.channel_id,
        "direction": message.direction,
        "type": message.type,
        "body": message.body,
        "template": message.template.name if message.template_id else None,
        "delivery": message.delivery,
        "failure_reason": message.failure_reason or None,
        "created_at": _iso(message.created_at),
        "sent_at": _iso(message.sent_at),
        "delivered_at": _iso(message.delivered_at),
        "read_at": _iso(message.read_at),
    }
