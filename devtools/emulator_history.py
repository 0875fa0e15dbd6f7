"""What the WhatsApp emulator learns from the desk's database (``--seed-from-db``).

Conversations that never passed through the emulator (``seed_demo``'s, or those of an emulator
that was restarted) would otherwise be unknown to it: it would refuse every free-form reply with
131047 while the desk shows the window open. The emulator takes over, per WhatsApp channel and
customer, the latest customer message time (the desk's ``last_customer_message_at``, so both
compute the same window: channels_app.whatsapp.window) and the recent messages for its phone page.
Development and tests only.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Max

from channels_app.models import Channel
from conversations.models import Conversation, Message

RECENT = timedelta(days=30)  # older chats are history nobody replies to from the phone page
MAX_CHATS = 500
MESSAGES_PER_CHAT = 50
PHONE_STATUS = {
    Message.Delivery.QUEUED: "accepted",
    Message.Delivery.SENDING: "accepted",
}


def known_chats(*, now: datetime) -> list[dict]:
    """The recent chats of every WhatsApp channel as the emulator stores them: one dict per
    (number, customer) with ``phone_number_id``, ``wa_id``, ``name``, ``last_inbound`` (Unix
    seconds or None) and ``messages`` (oldest first). Two queries."""
    since = now - RECENT
    latest = (
        Conversation.objects.filter(
            channel__kind=Channel.Kind.WHATSAPP,
            channel__phone_number_id__isnull=False,
            contact__wa_id__isnull=False,
            last_activity_at__gte=since,
        )
        .values("channel__phone_number_id", "contact__wa_id", "contact__profile_name")
        .annotate(
            last_inbound=Max("last_customer_message_at"), last_activity=Max("last_activity_at")
        )
        .order_by("-last_activity")[:MAX_CHATS]
    )
    chats = {
        (row["channel__phone_number_id"], row["contact__wa_id"]): {
            "phone_number_id": row["channel__phone_number_id"],
            "wa_id": row["contact__wa_id"],
            "name": row["contact__profile_name"],
            "last_inbound": row["last_inbound"].timestamp() if row["last_inbound"] else None,
            "messages": [],
        }
        for row in latest
    }
    messages = (
        Message.objects.filter(
            channel__phone_number_id__in={pnid for pnid, _ in chats},
            conversation__contact__wa_id__in={wa_id for _, wa_id in chats},
            created_at__gte=since,
        )
        .values_list(
            "channel__phone_number_id", "conversation__contact__wa_id", "direction",
            "provider_message_id", "type", "body", "delivery", "failure_code", "sent_at",
            "created_at", "pk",
        )
        .order_by("-created_at", "-pk")
    )  # fmt: skip
    for pnid, wa_id, direction, wamid, kind, body, delivery, code, sent_at, created, pk in messages:
        chat = chats.get((pnid, wa_id))
        if chat is None or len(chat["messages"]) >= MESSAGES_PER_CHAT:
            continue
        chat["messages"].append(
            {
                "direction": direction,
                "wamid": wamid or f"desk.{pk}",
                "type": kind,
                "text": body,
                "timestamp": (sent_at or created).timestamp(),
                "status": "read" if direction == "in" else PHONE_STATUS.get(delivery, delivery),
                "error": f"({code})" if code else "",
            }
        )
    for chat in chats.values():
        chat["messages"].reverse()
    return list(chats.values())


def teach(emulator, *, now: datetime) -> int:
    """Have ``emulator`` (devtools.whatsapp_emulator.Emulator) learn the recent chats;
    returns how many."""
    chats = known_chats(now=now)
    for chat in chats:
        emulator.learn_chat(
            chat["phone_number_id"], chat["wa_id"], name=chat["name"],
            messages=chat["messages"], last_inbound=chat["last_inbound"],
        )  # fmt: skip
    return len(chats)
