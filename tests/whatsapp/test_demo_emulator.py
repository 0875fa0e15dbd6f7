"""The demo and the emulator agree: a reply in every seeded open conversation is delivered.

seed_demo writes conversations straight into the database; ``whatsapp_emulator --seed-from-db``
teaches the emulator their customers' last message times (devtools.emulator_history), so
the emulator's 24-hour window is the desk's. Before, every seeded reply failed with 131047.
"""

import os
import socket
import subprocess
import sys
from datetime import timedelta

import httpx
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from channels_app.models import Channel, MessageTemplate
from channels_app.whatsapp import window
from conversations import services
from conversations.models import Conversation, Message
from conversations.services import outbound
from devtools import emulator_history
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


def test_the_page_never_offers_a_reply_the_emulator_refuses_one_second_before_the_close():
    """The window's last second: the desk closes its reply box the margin earlier, the emulator
    accepts up to the close; a second after the close both refuse."""
    now = timezone.now()
    last = now - window.CUSTOMER_SERVICE_WINDOW + timedelta(seconds=1)
    assert window.is_open(last, now) and not window.is_open(last, now + timedelta(seconds=1))
    assert not window.is_open(last, now, margin=settings.WHATSAPP_WINDOW_SAFETY_MARGIN)


def _delivery(message):
    message.refresh_from_db()
    return message.delivery


def _wamid(message):
    message.refresh_from_db()
    return message.provider_message_id


def test_the_emulator_command_learns_the_seeded_chats_from_the_database():
    """``manage.py whatsapp_emulator --seed-from-db`` as Procfile.dev runs it, on this test's
    database: the seeded numbers, their chats, and each customer's last message time."""
    call_command("seed_demo", verbosity=0)
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": _database_url(), "DEBUG": "1"}
    command = [sys.executable, "manage.py", "whatsapp_emulator", "--seed-from-db", "--port"]
    server = subprocess.Popen(  # noqa: S603 - our own manage.py
        [*command, str(port)], cwd=settings.BASE_DIR, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}/_emulator/api"
        chats = wait_for(lambda: _get(f"{base}/chats?phone_number_id=109876543210987"), timeout=60)
        assert chats, server.stdout.read() if server.poll() is not None else "no answer"
        assert {c["name"] for c in chats} >= {"Dana Kim", "Lukas Weber", "Priya Shah"}
        dana = _get(f"{base}/chat?phone_number_id=109876543210987&wa_id=4915112345001")
        assert [m["text"] for m in dana] == [
            "Hi! My tent arrived with a torn seam.",
            "Order 4471, photo attached soon.",
        ]
        assert dana[-1]["timestamp"] == pytest.approx(
            Conversation.objects.get(contact__wa_id="4915112345001")
            .last_customer_message_at.timestamp()
        )
    finally:
        server.terminate()
        server.wait(timeout=20)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url):
    try:
        return httpx.get(url, timeout=2).json()
    except httpx.HTTPError:
        return None


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
