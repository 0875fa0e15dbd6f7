"""Read receipts and the typing indicator by the channel's policy (issue 16 item 5), against the
emulator as a real HTTP server: what it was asked to mark read, and when."""

from datetime import timedelta

import pytest
from django.utils import timezone

from channels_app.access import Role
from channels_app.models import Channel
from composer import receipts
from conversations import services
from conversations.models import Message
from tests.factories import GrantFactory, UserFactory
from tests.whatsapp.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)
CUSTOMER = "15555550123"
Policy = Channel.ReadReceipts


@pytest.fixture
def agent(wa_channel):
    user = UserFactory(username="carla")
    GrantFactory(channel=wa_channel, user=user, role=Role.CONTRIBUTOR)
    return user


def customer_writes(emulator, channel, text):
    wamid = emulator.inject(channel.phone_number_id, wa_id=CUSTOMER, name="Dana", text=text)
    message = wait_for(lambda: Message.objects.filter(provider_message_id=wamid).first())
    assert message is not None
    return message


def set_policy(channel, policy):
    Channel.objects.filter(pk=channel.pk).update(read_receipts=policy)
    channel.refresh_from_db()


def test_on_open_marks_the_latest_message_read_once_per_10_seconds(
    emulator, wa_channel, agent, client, eager_tasks
):
    first = customer_writes(emulator, wa_channel, "hello")
    client.force_login(agent)
    url = f"/conversations/{first.conversation_id}/compose/seen/"
    assert client.post(url).status_code == 202
    assert [m["message_id"] for m in emulator.read_marks] == [first.provider_message_id]
    assert emulator.chat(wa_channel.phone_number_id, CUSTOMER)[0]["status"] == "read"
    # The same message again: nothing new to mark.
    assert client.post(url).status_code == 204
    conversation = first.conversation
    second = customer_writes(emulator, wa_channel, "are you there?")
    now = timezone.now()
    assert receipts.opened(conversation, now=now + timedelta(seconds=5)) is False
    assert receipts.opened(conversation, now=now + timedelta(seconds=11)) is True
    assert [m["message_id"] for m in emulator.read_marks] == [
        first.provider_message_id,
        second.provider_message_id,
    ]


def test_on_reply_marks_read_when_the_agent_replies(emulator, wa_channel, agent, eager_tasks):
    set_policy(wa_channel, Policy.ON_REPLY)
    message = customer_writes(emulator, wa_channel, "hello")
    conversation = message.conversation
    assert receipts.opened(conversation) is False
    assert emulator.read_marks == []
    services.reply(conversation, author=agent, body="Hi Dana")
    assert wait_for(lambda: emulator.read_marks)
    assert emulator.read_marks[0]["message_id"] == message.provider_message_id


def test_never_sends_no_receipt_and_no_typing(emulator, wa_channel, agent, client, eager_tasks):
    set_policy(wa_channel, Policy.NEVER)
    message = customer_writes(emulator, wa_channel, "hello")
    client.force_login(agent)
    base = f"/conversations/{message.conversation_id}/compose/"
    assert client.post(base + "seen/").status_code == 204
    assert client.post(base + "typing/").status_code == 204
    services.reply(message.conversation, author=agent, body="Hi")
    assert emulator.read_marks == []


def test_typing_shows_the_indicator_at_most_every_20_seconds(
    emulator, wa_channel, agent, client, eager_tasks
):
    message = customer_writes(emulator, wa_channel, "hello")
    client.force_login(agent)
    url = f"/conversations/{message.conversation_id}/compose/typing/"
    assert client.post(url).status_code == 202
    assert client.post(url).status_code == 204
    [mark] = emulator.read_marks
    assert mark["typing"] is True and mark["message_id"] == message.provider_message_id
    assert emulator.typing_in(wa_channel.phone_number_id, CUSTOMER)


def test_a_viewer_cannot_ping(emulator, wa_channel, client):
    viewer = UserFactory(username="vic")
    GrantFactory(channel=wa_channel, user=viewer, role=Role.VIEWER)
    message = customer_writes(emulator, wa_channel, "hello")
    client.force_login(viewer)
    response = client.post(f"/conversations/{message.conversation_id}/compose/seen/")
    assert response.status_code in (403, 404)
    assert emulator.read_marks == []
