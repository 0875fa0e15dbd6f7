"""The one-statement inbound path (PostgreSQL) writes exactly what the ORM path writes.

Each scenario is a small world (channels, contacts, conversations) and a sequence of deliveries.
It runs once through the ORM rules and once through ``conversations.inbound_sql``, from the same
starting rows, and every contact, conversation, message and event must come out the same, ids
aside. The behaviour itself (what a customer's message does) is tested in
test_services_inbound.py, on whichever database the suite runs on.
"""

from dataclasses import replace
from datetime import timedelta

import pytest
from django.utils import timezone

from channels_app.transports import InboundMessage
from conversations import services
from conversations.models import Contact, Conversation, Event, Message
from tests.factories import ChannelFactory, ContactFactory, ConversationFactory, UserFactory

NOW = timezone.now().replace(microsecond=0)
T = [NOW + timedelta(minutes=i) for i in range(12)]


def world():
    """Two channels, a Pending conversation with an assignee, a Resolved one, two contacts."""
    main = ChannelFactory(display_name="main")
    other = ChannelFactory(display_name="other")
    agent = UserFactory(username="agent")
    ConversationFactory(
        channel=main,
        contact=ContactFactory(wa_id="4911", profile_name="Pat", phone="+4911"),
        status=Conversation.Status.PENDING,
        assignee=agent,
        opened_at=NOW - timedelta(days=2),
        last_message_preview="we will check",
    )
    ConversationFactory(
        channel=main,
        contact=ContactFactory(wa_id="4922", profile_name="Rene", phone="+4922"),
        status=Conversation.Status.RESOLVED,
        opened_at=NOW - timedelta(days=9),
        resolved_at=NOW - timedelta(days=8),
        resolution="agent",
    )
    Contact.objects.create(bsuid="BS.hidden", profile_name="", phone="")
    Contact.objects.create(wa_id="4933", profile_name="Sam", phone="")
    return {"main": main, "other": other}


# (channel, wa_id, bsuid, profile name, wamid, sent_at, now, type, body, payload, reply_to)
DELIVERIES = [
    ("main", "4900", None, "Dana", "w.1", T[0], T[0], "text", "Hello,\n  my order", {}, ""),
    ("main", "4900", None, "Dana K.", "w.2", T[2], T[2], "text", "Any news?", {}, "w.1"),
    ("main", "4900", None, "", "w.3", T[1], T[3], "text", "older, late", {}, ""),
    ("main", "4900", None, "Dana K.", "w.1", T[0], T[4], "text", "Hello,\n  my order", {}, ""),
    ("main", "4911", None, "Pat", "w.4", T[4], T[5], "text", "thanks, one more thing", {}, ""),
    ("main", "4922", None, "Rene", "w.5", T[5], T[5], "image", "", {"id": "media.1"}, ""),
    ("other", "4900", None, "Dana K.", "w.1", T[6], T[6], "text", "same id, other channel", {}, ""),
    ("main", None, "BS.hidden", "Hidden", "w.6", T[6], T[6], "text", "hi", {}, ""),
    ("main", "4944", "BS.hidden", "Hidden", "w.7", T[7], T[7], "text", "now with a number", {}, ""),
    ("main", "4933", "BS.new", "Sam", "w.8", T[8], T[8], "location", "", {"latitude": 1.5}, ""),
    ("main", "4955", "BS.both", "Both", "w.9", T[9], T[9], "text", "x" * 300, {}, ""),
    ("main", "4911", None, "Pat", "w.10", T[10], T[10], "reaction", "", {"emoji": "x"}, "w.4"),
]


def deliver_all(receive, channels):
    outcomes = []
    for (
        name,
        wa_id,
        bsuid,
        profile,
        wamid,
        sent_at,
        now,
        type_,
        body,
        payload,
        reply_to,
    ) in DELIVERIES:
        message, created = receive(
            channel=channels[name],
            message=InboundMessage(
                wa_id=wa_id, bsuid=bsuid, profile_name=profile, provider_message_id=wamid,
                sent_at=sent_at, type=type_, body=body, payload=payload,
                reply_to_provider_id=reply_to,
            ),
            now=now,
        )  # fmt: skip
        outcomes.append((created, message.provider_message_id, message.body))
    return outcomes


def _at_number(*, channel, message, now):
    """The webhook's entry: the channel named by its phone number id, found by the statement."""
    return services.receive_inbound_at_number(
        message=replace(message, phone_number_id=channel.phone_number_id), now=now
    )


def snapshot():
    """Every row the deliveries can touch, with ids replaced by stable keys."""

    def contact_key(contact_id):
        c = Contact.objects.get(pk=contact_id)
        return (c.wa_id, c.bsuid)

    conv_keys = {
        c.pk: (c.channel.display_name, contact_key(c.contact_id), c.opened_at)
        for c in Conversation.objects.all()
    }
    return {
        "contacts": sorted(
            Contact.objects.values_list("kind", "wa_id", "bsuid", "profile_name", "phone"),
            key=repr,
        ),
        "conversations": sorted(
            (
                conv_keys[c.pk],
                c.status,
                c.last_customer_message_at,
                c.last_activity_at,
                c.last_message_preview,
                c.assignee_id is not None,
                c.resolution,
                c.resolved_at,
                c.first_response_at,
                c.waiting_since,
            )
            for c in Conversation.objects.all()
        ),
        "messages": sorted(
            (
                conv_keys[m.conversation_id],
                m.channel.display_name,
                m.direction,
                m.type,
                m.body,
                m.payload,
                m.provider_message_id,
                m.reply_to_provider_id,
                m.delivery,
                m.failure_code,
                m.failure_reason,
                m.sent_outside_window,
                m.attempts,
                m.created_at,
                m.sent_at,
                m.delivered_at,
                m.read_at,
                m.author_id,
                m.template_id,
            )
            for m in Message.objects.select_related("channel")
        ),
        "events": sorted(
            (conv_keys[e.conversation_id], e.kind, e.actor_id, e.data, e.created_at)
            for e in Event.objects.all()
        ),
    }


def reset():
    for model in (Event, Message, Conversation, Contact):
        model.objects.all().delete()


@pytest.mark.django_db
def test_the_statement_writes_what_the_orm_rules_write(on_postgres):
    channels = world()
    by_orm = deliver_all(services.inbound._receive_through_orm, channels)
    expected = snapshot()

    reset()
    channels = world()
    by_statement = deliver_all(services.receive_inbound, channels)

    assert by_statement == by_orm
    assert snapshot() == expected

    reset()
    channels = world()
    by_number = deliver_all(_at_number, channels)
    assert by_number == by_orm
    assert snapshot() == expected
    # And the scenario really exercised the rules: a redelivery, a reopened Pending, a new
    # conversation after a resolved one, a contact found by BSUID that gained a number.
    assert [created for created, *_ in by_orm].count(False) == 1
    assert Event.objects.filter(kind=Event.Kind.STATUS_CHANGED).count() == 1
    assert Contact.objects.get(bsuid="BS.hidden").wa_id == "4944"
    assert Contact.objects.get(wa_id="4933").bsuid == "BS.new"


@pytest.mark.django_db
def test_the_statement_returns_a_message_that_behaves_like_a_loaded_one(on_postgres):
    channel = ChannelFactory()
    message, created = services.receive_inbound(
        channel=channel,
        message=InboundMessage(
            wa_id="4977",
            provider_message_id="w.x",
            sent_at=NOW,
            type="text",
            body="hello",
        ),
        now=NOW,
    )
    assert created
    assert message.conversation.contact.wa_id == "4977"
    assert Message.objects.get(pk=message.pk).body == "hello"
    message.refresh_from_db()
    assert message.delivery == Message.Delivery.RECEIVED


@pytest.mark.django_db
def test_a_number_without_an_active_channel_stores_nothing(on_postgres):
    ChannelFactory(phone_number_id="555000", is_active=False)
    for number in ("555000", "no-such-number"):
        stored = services.receive_inbound_at_number(
            message=InboundMessage(
                phone_number_id=number,
                wa_id="4977",
                profile_name="Dana",
                provider_message_id=f"w.{number}",
                sent_at=NOW,
                type="text",
                body="hi",
            ),
            now=NOW,
        )
        assert stored is None
    assert not Contact.objects.exists()
    assert not Message.objects.exists()
    assert not Conversation.objects.exists()
