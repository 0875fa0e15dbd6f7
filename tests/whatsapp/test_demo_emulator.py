"""The demo and the emulator agree: a reply in every seeded open conversation is delivered.

seed_demo writes conversations straight into the database; ``whatsapp_emulator --seed-from-db``
teaches the emulator their customers' last message times (conversations.emulator_history), so
the emulator's 24-hour window is the desk's. Before, every seeded reply failed with 131047.
"""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from channels_app.models import Channel, MessageTemplate
from channels_app.whatsapp import window
from conversations import emulator_history, outbound, services
from conversations.models import Conversation, Message
from tests.whatsapp.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)
ARRIVED = (Message.Delivery.DELIVERED, Message.Delivery.READ)


def register_demo_numbers(emulator):
    """What ``--seed-from-db`` registers: every WhatsApp channel with its token and templates."""
    for channel in Channel.objects.filter(kind=Channel.Kind.WHATSAPP):
        emulator.add_number(
            phone_number_id=channel.phone_number_id,
            waba_id=channel.waba_id,
            display_phone_number=channel.display_phone_number,
            verified_name=channel.verified_name,
            token=channel.access_token,
        )
    for template in MessageTemplate.objects.select_related("channel"):
        emulator.add_template(
            template.channel.waba_id, name=template.name, components=template.components
        )


@pytest.fixture
def demo(emulator):
    call_command("seed_demo", verbosity=0)
    register_demo_numbers(emulator)
    learned = emulator_history.teach(emulator, now=timezone.now())
    assert learned >= 7  # every seeded customer, Lukas's earlier conversation included
    return emulator


def test_the_emulator_learns_each_seeded_window_exactly_as_the_desk_computes_it(demo):
    now = timezone.now()
    for conversation in Conversation.objects.select_related("channel", "contact"):
        key = (conversation.channel.phone_number_id, conversation.contact.wa_id)
        learned = window.from_timestamp(demo.last_inbound.get(key))
        latest = (
            Conversation.objects.filter(channel=conversation.channel, contact=conversation.contact)
            .order_by("-last_customer_message_at")
            .first()
        )
        assert learned == latest.last_customer_message_at
        assert window.is_open(learned, now) == latest.is_window_open(now)


def test_a_reply_in_every_seeded_open_conversation_is_delivered_with_its_ticks(demo):
    admin = get_user_model().objects.get(username="admin")
    now = timezone.now()
    replies = []
    for conversation in Conversation.objects.filter(status__in=Conversation.OPEN):
        if conversation.is_window_open(now):
            reply = services.reply(conversation, author=admin, body=f"On it, #{conversation.pk}")
        else:  # Marta wrote 30 hours ago: the page offers the templates
            template = MessageTemplate.objects.get(channel=conversation.channel, name="follow_up")
            reply = services.send_template(
                conversation, author=admin, template=template, params=["Marta"]
            )
        assert outbound.dispatch(reply.pk).result == "sent"
        replies.append(reply)
    assert len(replies) == 6
    for reply in replies:
        assert wait_for(lambda reply=reply: _delivery(reply) in ARRIVED), reply.body
        contact = reply.conversation.contact.wa_id
        phone = demo.chat(reply.channel.phone_number_id, contact)
        [shown] = [m for m in phone if m["wamid"] == _wamid(reply)]
        assert (shown["direction"], shown["status"]) in {("out", "delivered"), ("out", "read")}
    # The phone shows the seeded history before the reply, as the customer's phone would.
    dana = demo.chat("109876543210987", "4915112345001")
    assert [m["direction"] for m in dana][:2] == ["in", "in"]


def test_the_page_never_offers_a_reply_the_emulator_refuses_one_second_before_the_close(
    emulator, wa_channel, settings
):
    """The window's last second: the desk closes its reply box the margin earlier, the emulator
    accepts up to the close; a second after the close both refuse."""
    now = timezone.now()
    last = now - window.CUSTOMER_SERVICE_WINDOW + timedelta(seconds=1)
    assert window.is_open(last, now) and not window.is_open(last, now + timedelta(seconds=1))
    margin = settings.WHATSAPP_WINDOW_SAFETY_MARGIN
    assert not window.is_open(last, now, margin=margin)


def _delivery(message):
    message.refresh_from_db()
    return message.delivery


def _wamid(message):
    message.refresh_from_db()
    return message.provider_message_id
