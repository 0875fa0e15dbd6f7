"""Auto-responders with a controllable clock: the away message once per closed period per
conversation, never free text outside the 24-hour window (the template, or nothing), the
greeting of a new conversation; sent by the system and never a first response."""

from __future__ import annotations

from datetime import timedelta

import pytest

from conversations.models import Conversation, Message
from service_levels import responders
from service_levels.models import AutoReply
from tests.factories import ConversationFactory, TemplateFactory
from tests.service_levels.conftest import WEEKDAYS_9_TO_5, ServiceSettingsFactory, hours_of, local

Z = "Europe/Berlin"


@pytest.fixture
def away(db):
    row = hours_of(
        ServiceSettingsFactory(
            time_zone=Z, away_enabled=True, away_text="We are closed; back at 9."
        ),
        WEEKDAYS_9_TO_5,
    )
    return row


def customer_writes(conv: Conversation, at):
    conv.last_customer_message_at = at
    conv.save(update_fields=["last_customer_message_at"])
    return responders.respond({conv.pk: at}, now=at)


def sent(conv):
    return list(
        Message.objects.filter(conversation=conv, direction="out")
        .order_by("id")
        .values_list("type", "body", "author_id")
    )


def test_away_message_once_per_closed_period(away):
    at = local(Z, "2026-05-08 18:00")  # Friday evening, closed until Monday 09:00
    conv = ConversationFactory(channel=away.channel, opened_at=at, last_activity_at=at)
    customer_writes(conv, at)
    customer_writes(conv, at + timedelta(hours=2))
    customer_writes(conv, local(Z, "2026-05-10 20:00"))  # Sunday: the same closed period
    assert sent(conv) == [("text", "We are closed; back at 9.", None)]
    conv.refresh_from_db()
    assert conv.first_response_at is None and conv.assignee_id is None

    customer_writes(conv, local(Z, "2026-05-11 10:00"))  # Monday, open: nothing
    assert len(sent(conv)) == 1
    customer_writes(conv, local(Z, "2026-05-11 18:30"))  # Monday evening: a new period
    assert len(sent(conv)) == 2
    assert AutoReply.objects.filter(conversation=conv, kind="away").count() == 2


def test_no_free_text_outside_the_window_the_template_or_nothing(away):
    friday = local(Z, "2026-05-08 18:00")
    conv = ConversationFactory(
        channel=away.channel,
        opened_at=friday,
        last_activity_at=friday,
        last_customer_message_at=friday,
    )
    # The message is applied two days late (a backlog): the window has closed.
    late = friday + timedelta(days=2)
    responders.respond({conv.pk: friday}, now=late)
    assert sent(conv) == []
    assert AutoReply.objects.get(conversation=conv).message_id is None

    template = TemplateFactory(
        channel=away.channel,
        status="APPROVED",
        components=[{"type": "BODY", "text": "We are closed; write again in our hours."}],
    )
    away.away_template = template
    away.save()
    other = ConversationFactory(
        channel=away.channel,
        opened_at=friday,
        last_activity_at=friday,
        last_customer_message_at=friday,
    )
    responders.respond({other.pk: friday}, now=late)
    [(kind, _body, author)] = sent(other)
    assert (kind, author) == ("template", None)
    assert Message.objects.get(conversation=other).sent_outside_window


def test_greeting_for_a_new_conversation_only(db):
    row = ServiceSettingsFactory(greeting_enabled=True, greeting_text="Hi! How can we help?")
    at = local(Z, "2026-05-11 10:00")
    conv = ConversationFactory(
        channel=row.channel, opened_at=at, last_activity_at=at, last_customer_message_at=at
    )
    responders.respond({conv.pk: at}, opened=[conv.pk], now=at)
    responders.respond({conv.pk: at + timedelta(minutes=1)}, now=at + timedelta(minutes=1))
    assert sent(conv) == [("text", "Hi! How can we help?", None)]


def test_a_channel_without_settings_sends_nothing(db):
    conv = ConversationFactory()
    assert responders.respond({conv.pk: conv.opened_at}, opened=[conv.pk], now=conv.opened_at) == []
