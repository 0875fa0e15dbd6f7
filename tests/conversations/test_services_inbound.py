"""receive_inbound: how a customer's message lands in the desk (DESIGN.md, Conversations)."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from channels_app.transports import InboundMessage
from conversations import services
from conversations.models import Contact, Conversation, Event, Message
from tests.factories import ChannelFactory, ContactFactory, ConversationFactory, UserFactory

NOW = timezone.now().replace(microsecond=0)


def inbound(channel, wamid, *, wa_id="15550001111", sent_at=None, now=None, **kw):
    message = InboundMessage(
        wa_id=wa_id,
        profile_name=kw.pop("profile_name", "Dana"),
        provider_message_id=wamid,
        sent_at=sent_at or NOW,
        type=kw.pop("type", "text"),
        body=kw.pop("body", "Hello, my order is late"),
        **kw,
    )
    return services.receive_inbound(channel=channel, message=message, now=now or NOW)


@pytest.mark.django_db
def test_first_message_of_a_new_contact_opens_a_new_conversation():
    channel = ChannelFactory()
    sent = NOW - timedelta(seconds=5)
    message, created = inbound(channel, "wamid.1", sent_at=sent)

    assert created
    conv = message.conversation
    assert conv.status == Conversation.Status.NEW
    assert conv.opened_at == sent
    assert conv.last_customer_message_at == sent
    assert conv.last_activity_at == NOW
    assert conv.last_message_preview == "Hello, my order is late"
    assert conv.contact.wa_id == "15550001111"
    assert conv.contact.profile_name == "Dana"
    assert message.direction == Message.Direction.INBOUND
    assert message.delivery == Message.Delivery.RECEIVED
    assert (message.created_at, message.sent_at) == (NOW, sent)
    assert list(conv.events.values_list("kind", "actor")) == [(Event.Kind.OPENED, None)]


@pytest.mark.django_db
def test_redelivered_message_is_stored_once():
    channel = ChannelFactory()
    first, created = inbound(channel, "wamid.dup")
    again, created_again = inbound(channel, "wamid.dup", now=NOW + timedelta(minutes=1))

    assert created and not created_again
    assert again.pk == first.pk
    assert Message.objects.count() == 1
    assert Event.objects.count() == 1
    conv = Conversation.objects.get()
    assert conv.last_activity_at == NOW  # the duplicate touched nothing


@pytest.mark.django_db
def test_next_message_joins_the_open_conversation_and_updates_the_profile_name():
    channel = ChannelFactory()
    first, _ = inbound(channel, "wamid.a")
    second, _ = inbound(
        channel,
        "wamid.b",
        profile_name="Dana K.",
        sent_at=NOW + timedelta(minutes=2),
        now=NOW + timedelta(minutes=2),
        body="Any news?",
    )
    assert second.conversation_id == first.conversation_id
    assert Contact.objects.get().profile_name == "Dana K."
    conv = second.conversation
    conv.refresh_from_db()
    assert conv.last_message_preview == "Any news?"
    assert conv.last_customer_message_at == NOW + timedelta(minutes=2)


@pytest.mark.django_db
def test_inbound_on_pending_puts_it_back_in_new_keeping_the_assignee():
    agent = UserFactory()
    conv = ConversationFactory(
        status=Conversation.Status.PENDING, assignee=agent, contact=ContactFactory(wa_id="4911")
    )
    inbound(conv.channel, "wamid.p", wa_id="4911")
    conv.refresh_from_db()

    assert conv.status == Conversation.Status.NEW
    assert conv.assignee == agent
    event = conv.events.get(kind=Event.Kind.STATUS_CHANGED)
    assert event.actor is None
    assert event.data == {"from": "pending", "to": "new", "reason": "customer_replied"}


@pytest.mark.django_db
def test_inbound_after_resolved_opens_a_new_conversation_and_keeps_the_old_one():
    old = ConversationFactory(
        status=Conversation.Status.RESOLVED,
        contact=ContactFactory(wa_id="4922"),
        resolved_at=NOW - timedelta(days=1),
        resolution="agent",
    )
    message, _ = inbound(old.channel, "wamid.r", wa_id="4922")
    old.refresh_from_db()

    assert message.conversation_id != old.pk
    assert message.conversation.status == Conversation.Status.NEW
    assert old.status == Conversation.Status.RESOLVED
    assert Conversation.objects.filter(contact=old.contact).count() == 2


@pytest.mark.django_db
def test_out_of_order_older_message_never_moves_the_window_backwards():
    channel = ChannelFactory()
    inbound(channel, "wamid.new", sent_at=NOW, body="newest")
    message, created = inbound(
        channel,
        "wamid.old",
        sent_at=NOW - timedelta(hours=3),
        body="older",
        now=NOW + timedelta(seconds=1),
    )
    conv = message.conversation
    conv.refresh_from_db()
    assert created
    assert conv.last_customer_message_at == NOW
    assert conv.last_message_preview == "newest"
    assert conv.last_activity_at == NOW + timedelta(seconds=1)


@pytest.mark.django_db
def test_contact_without_wa_id_is_keyed_by_bsuid():
    channel = ChannelFactory()
    first, _ = services.receive_inbound(
        channel=channel,
        message=InboundMessage(
            wa_id=None,
            bsuid="BSUID.1",
            provider_message_id="wamid.b1",
            sent_at=NOW,
            type="text",
            body="hi",
        ),
        now=NOW,
    )
    second, _ = services.receive_inbound(
        channel=channel,
        message=InboundMessage(
            wa_id=None,
            bsuid="BSUID.1",
            provider_message_id="wamid.b2",
            sent_at=NOW,
            type="text",
            body="again",
        ),
        now=NOW,
    )
    assert first.conversation_id == second.conversation_id
    assert Contact.objects.get().bsuid == "BSUID.1"


@pytest.mark.django_db
def test_media_message_without_text_gets_a_readable_preview():
    message, _ = inbound(ChannelFactory(), "wamid.img", type="image", body="")
    assert message.conversation.last_message_preview == "[Image]"


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_messages_of_a_new_contact_open_one_conversation(on_postgres):
    channel = ChannelFactory()
    barrier = threading.Barrier(2)
    errors = []

    def deliver(wamid):
        try:
            barrier.wait(timeout=5)
            inbound(channel, wamid, wa_id="4933")
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver, args=(f"wamid.c{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert Conversation.objects.count() == 1
    assert Message.objects.count() == 2
    assert Event.objects.filter(kind=Event.Kind.OPENED).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_redeliveries_store_the_message_once(on_postgres):
    channel = ChannelFactory()
    barrier = threading.Barrier(2)
    results, errors = [], []

    def deliver():
        try:
            barrier.wait(timeout=5)
            results.append(inbound(channel, "wamid.same", wa_id="4944")[1])
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert sorted(results) == [False, True]
    assert Message.objects.count() == 1
    assert Conversation.objects.count() == 1


@pytest.mark.django_db
def test_by_phone_number_id_only_an_active_whatsapp_channel_receives():
    active = ChannelFactory(phone_number_id="555001")
    ChannelFactory(phone_number_id="555002", is_active=False)

    def at(number, wamid):
        return services.receive_inbound_at_number(
            message=InboundMessage(
                phone_number_id=number,
                wa_id="4966",
                provider_message_id=wamid,
                sent_at=NOW,
                type="text",
                body="hi",
            ),
            now=NOW,
        )

    message, created = at("555001", "wamid.n1")
    assert created and message.channel_id == active.pk
    assert message.conversation.channel_id == active.pk
    assert at("555002", "wamid.n2") is None  # inactive
    assert at("555999", "wamid.n3") is None  # nobody's number
    assert Message.objects.count() == 1
