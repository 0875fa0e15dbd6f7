"""Delivery states from the provider's status callbacks (``apply_status``: only ever upwards),
and the conversation's first response, which a failed reply never is
(``recount_first_response``). See docs/whatsapp.md."""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from channels_app.models import Channel
from channels_app.whatsapp.errors import WhatsAppError, error_for
from conversations import partitions
from conversations.models import Conversation, Event, Message
from conversations.services import announcements
from conversations.services.events import record_event

logger = logging.getLogger(__name__)

STATUS_TO_DELIVERY = {
    "sent": Message.Delivery.SENT,
    "delivered": Message.Delivery.DELIVERED,
    "read": Message.Delivery.READ,
    "failed": Message.Delivery.FAILED,
}



def raw_text(error: WhatsAppError) -> str:
    """Meta's own words about a failure (for people first, then for developers), or the
    client's when Meta said nothing; never our translated summary, which is chosen at display."""
    text = error.details or error.title or error.message
    return "" if text == str(error.summary) else str(text)


def recount_first_response(conversation_id: int) -> None:
    """Set the conversation's first response from its earliest outbound message that has not
    failed (from when it was last sent again, if it was), or clear it: a failed reply never
    reached the customer. Locks the conversation, as the services do, so a reply being stored
    meanwhile is counted. The same rule as reports.tallies.rebuild."""
    conversation = (
        Conversation.objects.select_for_update()
        .only("pk", "first_response_at", "first_responder_id")
        .get(pk=conversation_id)
    )
    first = (
        Message.objects.filter(
            conversation_id=conversation_id, direction=Message.Direction.OUTBOUND
        )
        .exclude(delivery=Message.Delivery.FAILED)
        # The system's own messages (services.system_messages: no author, sent by the desk)
        # answer nobody.
        .exclude(author__isnull=True, via=Message.Via.DESK)
        .annotate(at=Coalesce("retried_at", "created_at"))
        .order_by("at", "id")
        .values_list("at", "author_id")
        .first()
    )
    at, author_id = first or (None, None)
    if (conversation.first_response_at, conversation.first_responder_id) != (at, author_id):
        Conversation.objects.filter(pk=conversation_id).update(
            first_response_at=at, first_responder_id=author_id
        )


@transaction.atomic
def apply_status(
    *,
    channel: Channel,
    provider_message_id: str,
    status: str,
    timestamp: datetime,
    callback_data: str = "",
    error_code: int | None = None,
    error_title: str = "",
    error_details: str = "",
    now: datetime | None = None,
    pricing: dict | None = None,
) -> Message | None:
    """Apply one provider status callback to our outbound message; None if it is not ours.

    ``pricing``: the status's pricing block, kept as ``payload["pricing"]`` (reports.costs).
    The delivery state only moves to a higher rank (``Message.DELIVERY_RANK``), so duplicates and
    out-of-order callbacks change nothing; a ``failed`` writes REPLY_FAILED once. A status that
    overtakes the send response finds the row through ``callback_data`` (our message id) and
    stores the wamid itself; ``record_accepted`` then keeps the further state.
    """
    new_state = STATUS_TO_DELIVERY.get(status)
    if new_state is None:
        return None
    outbound = Message.objects.select_for_update().filter(
        channel=channel, direction=Message.Direction.OUTBOUND
    )
    message = outbound.filter(partitions.by_provider_id(channel.pk, provider_message_id)).first()
    fields: list[str] = []
    if message is None and callback_data.isdigit():
        message = outbound.filter(pk=int(callback_data), provider_message_id__isnull=True).first()
        if message is not None and provider_message_id in _superseded(message):
            message = None  # a late status of the send that failed before a retry
        if message is not None:
            message.provider_message_id = provider_message_id
            fields.append("provider_message_id")
    if message is None:
        logger.info("status %s for an unknown message on channel %s", status, channel.pk)
        return None
    arrived = new_state in (Message.Delivery.DELIVERED, Message.Delivery.READ)
    if new_state != Message.Delivery.FAILED and message.sent_at is None:
        message.sent_at = timestamp
        fields.append("sent_at")
    if arrived and message.delivered_at is None:
        message.delivered_at = timestamp
        fields.append("delivered_at")
    if new_state == Message.Delivery.READ and message.read_at is None:
        message.read_at = timestamp
        fields.append("read_at")
    failed_now = False
    was_failed = message.delivery == Message.Delivery.FAILED
    payload = message.payload if isinstance(message.payload, dict) else {}
    # A later delivered/read proves that a failed message arrived after all; when the failure
    # was our send's (no answer, say), so does a plain "sent": WhatsApp had accepted it.
    failure = payload.get("failure") if isinstance(payload.get("failure"), dict) else {}
    disproved = was_failed and (
        arrived or (new_state == Message.Delivery.SENT and failure.get("source") == "send")
    )
    if disproved or Message.rank(new_state) > Message.rank(message.delivery):
        if was_failed:
            message.failure_code, message.failure_reason = None, ""
            message.payload = {k: v for k, v in payload.items() if k != "failure"}
            fields += ["failure_code", "failure_reason", "payload"]
        message.delivery = new_state
        fields.append("delivery")
        if new_state == Message.Delivery.FAILED:
            error = error_for(error_code, title=error_title, details=error_details)
            message.failure_code = error_code
            message.failure_reason = raw_text(error)[:500]
            message.payload = {
                **payload,
                "failure": {
                    "source": "status",
                    "transient": False,  # Meta's failed statuses say it by their code only
                    "answered": True,
                    "at": (now or timezone.now()).isoformat(),
                },
            }
            fields += ["failure_code", "failure_reason", "payload"]
            failed_now = True
    current = message.payload if isinstance(message.payload, dict) else {}
    if pricing and current.get("pricing") != pricing:
        message.payload = {**current, "pricing": pricing}
        fields.append("payload")
    if fields:
        message.save(update_fields=fields)
        announcements.message_changed([message.pk], change="delivery")
    if failed_now:
        record_event(
            message.conversation,
            kind=Event.Kind.REPLY_FAILED,
            actor=None,
            data={"message": message.pk, "code": error_code, "reason": message.failure_reason},
            now=now or timezone.now(),
        )
    if was_failed != (message.delivery == Message.Delivery.FAILED):
        recount_first_response(message.conversation_id)
    return message


def _superseded(message: Message) -> list:
    """The provider ids of this message's earlier sends, each failed and then retried."""
    payload = message.payload if isinstance(message.payload, dict) else {}
    return [r.get("wamid") for r in payload.get("retries") or [] if isinstance(r, dict)]
