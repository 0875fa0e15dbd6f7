"""CSAT with a controllable clock: only after an agent's resolve, sampling, the delay and its
cancellation on reopen, one survey per contact per 7 days, buttons inside the window and the
template (or nothing) outside, the answer and the comment credited to the resolving agent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from conversations.models import Conversation, Message
from service_levels import csat
from service_levels.models import CsatSurvey
from tests.factories import ContactFactory, ConversationFactory, TemplateFactory, UserFactory
from tests.service_levels.conftest import ServiceSettingsFactory

T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


@pytest.fixture
def conf(db):
    return ServiceSettingsFactory(
        csat_enabled=True, csat_delay=10 * MIN, csat_question="How did we do?"
    )


def resolved(conf, *, by=None, at=T0, contact=None, customer_at=None):
    agent = by or UserFactory()
    conv = ConversationFactory(
        channel=conf.channel,
        contact=contact or ContactFactory(),
        status="resolved",
        resolution=Conversation.Resolution.AGENT,
        resolved_by=agent,
        resolved_at=at,
        opened_at=at - 30 * MIN,
        last_activity_at=at,
        last_customer_message_at=customer_at or at - 5 * MIN,
    )
    return conv


def test_scheduled_after_an_agents_resolve_not_after_auto_resolve(conf):
    conv = resolved(conf)
    auto = resolved(conf)
    Conversation.objects.filter(pk=auto.pk).update(
        resolution=Conversation.Resolution.AUTO_NEW, resolved_by=None
    )
    [survey] = csat.on_resolved([conv.pk, auto.pk], now=T0)
    assert (survey.conversation, survey.agent, survey.due_at) == (
        conv,
        conv.resolved_by,
        T0 + 10 * MIN,
    )


def test_the_delay_and_the_interactive_buttons_inside_the_window(conf):
    conv = resolved(conf)
    csat.on_resolved([conv.pk], now=T0)
    assert csat.send_due(now=T0 + 10 * MIN - timedelta(seconds=1)) == 0
    assert csat.send_due(now=T0 + 10 * MIN) == 1
    message = Message.objects.get(conversation=conv, direction="out")
    assert (message.type, message.body, message.author) == ("interactive", "How did we do?", None)
    rows = message.payload["interactive"]["action"]["sections"][0]["rows"]
    survey = CsatSurvey.objects.get(conversation=conv)
    assert [r["id"] for r in rows] == [f"csat:{survey.pk}:{n}" for n in range(1, 6)]
    assert survey.state == "sent"


def test_a_reopen_cancels_the_survey(conf):
    conv = resolved(conf)
    csat.on_resolved([conv.pk], now=T0)
    Conversation.objects.filter(pk=conv.pk).update(status="new", resolved_at=None)
    assert csat.on_reopened([conv.pk]) == 1
    assert csat.send_due(now=T0 + 20 * MIN) == 0
    assert CsatSurvey.objects.get(conversation=conv).state == "cancelled"
    assert not Message.objects.filter(conversation=conv, direction="out").exists()
    # Reopened after the survey was due but before the sweep ran: cancelled at send time.
    again = resolved(conf)
    csat.on_resolved([again.pk], now=T0)
    Conversation.objects.filter(pk=again.pk).update(status="new")
    assert csat.send_due(now=T0 + 20 * MIN) == 1
    assert CsatSurvey.objects.get(conversation=again).state == "cancelled"


def test_one_survey_per_contact_per_seven_days(conf):
    contact = ContactFactory()
    first = resolved(conf, contact=contact)
    assert csat.on_resolved([first.pk], now=T0)
    soon = resolved(conf, contact=contact, at=T0 + timedelta(days=6, hours=23))
    assert csat.on_resolved([soon.pk], now=soon.resolved_at) == []
    later = resolved(conf, contact=contact, at=T0 + timedelta(days=7, minutes=1))
    assert len(csat.on_resolved([later.pk], now=later.resolved_at)) == 1
    # A cancelled survey does not count.
    other = ContactFactory()
    c1 = resolved(conf, contact=other)
    csat.on_resolved([c1.pk], now=T0)
    csat.on_reopened([c1.pk])
    c2 = resolved(conf, contact=other, at=T0 + timedelta(days=1))
    assert len(csat.on_resolved([c2.pk], now=c2.resolved_at)) == 1


def test_sampling_rate(conf):
    conf.csat_sample_percent = 50
    conf.save()
    convs = [resolved(conf) for _ in range(200)]
    made = csat.on_resolved([c.pk for c in convs], now=T0)
    expected = sum(csat.sampled(c.pk, 50) for c in convs)
    assert len(made) == expected
    assert 70 <= expected <= 130  # a stable hash of the id, about half
    conf.csat_sample_percent = 0
    conf.save()
    assert csat.on_resolved([resolved(conf).pk], now=T0) == []


def test_outside_the_window_the_template_or_nothing(conf):
    stale = T0 - timedelta(hours=30)
    conv = resolved(conf, customer_at=stale)
    csat.on_resolved([conv.pk], now=T0)
    csat.send_due(now=T0 + 10 * MIN)
    assert CsatSurvey.objects.get(conversation=conv).state == "skipped"
    assert not Message.objects.filter(conversation=conv, direction="out").exists()

    conf.csat_template = TemplateFactory(
        channel=conf.channel,
        status="APPROVED",
        components=[{"type": "BODY", "text": "How did we do? Tap 1 to 5."}],
    )
    conf.save()
    other = resolved(conf, customer_at=stale)
    csat.on_resolved([other.pk], now=T0)
    csat.send_due(now=T0 + 10 * MIN)
    message = Message.objects.get(conversation=other, direction="out")
    assert (message.type, message.template, message.sent_outside_window) == (
        "template",
        conf.csat_template,
        True,
    )


def test_the_answer_and_the_comment_are_stored_for_the_resolving_agent(conf):
    conf.csat_comment_question = "Anything we could do better?"
    conf.save()
    agent = UserFactory()
    conv = resolved(conf, by=agent)
    csat.on_resolved([conv.pk], now=T0)
    csat.send_due(now=T0 + 10 * MIN)
    survey = CsatSurvey.objects.get(conversation=conv)
    # The answer arrives as an interactive list reply (it opens a new conversation).
    answer_at = T0 + 15 * MIN
    new = ConversationFactory(
        channel=conf.channel,
        contact=conv.contact,
        opened_at=answer_at,
        last_activity_at=answer_at,
        last_customer_message_at=answer_at,
    )
    reply = Message.objects.create(
        conversation=new,
        channel=conf.channel,
        direction="in",
        type="interactive",
        body="4 ★★★★",
        payload={"interactive_type": "list_reply", "id": f"csat:{survey.pk}:4", "title": "4 ★★★★"},
        created_at=answer_at,
    )
    csat.on_customer_messages([reply], now=answer_at)
    survey.refresh_from_db()
    assert (survey.state, survey.score, survey.agent, survey.answered_at) == (
        "answered",
        4,
        agent,
        answer_at,
    )
    question = Message.objects.filter(conversation=new, direction="out").get()
    assert question.body == "Anything we could do better?"
    comment = Message.objects.create(
        conversation=new,
        channel=conf.channel,
        direction="in",
        type="text",
        body="Faster replies, please.",
        created_at=answer_at + 2 * MIN,
    )
    csat.on_customer_messages([comment], now=answer_at + 2 * MIN)
    survey.refresh_from_db()
    assert survey.comment == "Faster replies, please."


def test_a_template_quick_reply_answers_the_latest_survey(conf):
    conv = resolved(conf)
    csat.on_resolved([conv.pk], now=T0)
    csat.send_due(now=T0 + 10 * MIN)
    at = T0 + 20 * MIN
    reply = Message.objects.create(
        conversation=conv,
        channel=conf.channel,
        direction="in",
        type="button",
        body="5",
        payload={"payload": "csat:5"},
        created_at=at,
    )
    csat.on_customer_messages([reply], now=at)
    assert CsatSurvey.objects.get(conversation=conv).score == 5
