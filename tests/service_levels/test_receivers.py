"""The receivers of the conversations' signals: a customer's message starts the clocks and the
away message, the desk's reply meets them, a status change pauses them and schedules the
survey. The signals are sent as the writers send them (lists of ids, after commit)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from conversations import signals
from conversations.models import Conversation, Event, Message
from service_levels.models import CsatSurvey, SlaTarget
from tests.factories import ConversationFactory, EventFactory, MessageFactory, UserFactory
from tests.service_levels.conftest import ServiceSettingsFactory, SlaPolicyFactory, hours_of

T0 = datetime(2026, 6, 6, 10, 0, tzinfo=UTC)  # a Saturday: closed on a weekdays-only schedule


def test_a_message_a_reply_and_a_resolve_through_the_signals(db):
    settings_row = hours_of(
        ServiceSettingsFactory(
            time_zone="UTC",
            away_enabled=True,
            away_text="Closed until Monday.",
            csat_enabled=True,
        ),
        {d: ["09:00-17:00"] for d in range(5)},
    )
    channel = settings_row.channel
    SlaPolicyFactory(channel=channel, first_response=timedelta(hours=1), business_hours=False)
    conv = ConversationFactory(
        channel=channel, opened_at=T0, last_customer_message_at=T0, last_activity_at=T0
    )
    message = MessageFactory(conversation=conv, created_at=T0)
    signals.message_received.send(
        sender=None,
        message_ids=[message.pk],
        created_conversation_ids=[conv.pk],
        reopened_conversation_ids=[],
    )
    first = SlaTarget.objects.get(conversation=conv, kind="first_response")
    assert first.due_at == T0 + timedelta(hours=1)
    away = Message.objects.get(conversation=conv, direction="out")
    assert (away.body, away.author) == ("Closed until Monday.", None)
    # The away message is the system's: it answers nobody.
    signals.message_sent.send(sender=None, message_ids=[away.pk], author_id=None)
    first.refresh_from_db()
    assert first.state == "running"

    agent = UserFactory()
    reply = MessageFactory(
        conversation=conv, direction="out", author=agent, created_at=T0 + timedelta(minutes=20)
    )
    signals.message_sent.send(sender=None, message_ids=[reply.pk], author_id=agent.pk)
    first.refresh_from_db()
    assert (first.state, first.met_at, first.agent) == ("met", T0 + timedelta(minutes=20), agent)

    resolved_at = T0 + timedelta(minutes=30)
    Conversation.objects.filter(pk=conv.pk).update(
        status="resolved", resolution="agent", resolved_by=agent, resolved_at=resolved_at
    )
    EventFactory(
        conversation=conv,
        kind=Event.Kind.STATUS_CHANGED,
        actor=agent,
        data={"from": "new", "to": "resolved"},
        created_at=resolved_at,
    )
    signals.conversation_changed.send(
        sender=None,
        conversation_ids=[conv.pk],
        change=Event.Kind.STATUS_CHANGED,
        actor_id=agent.pk,
    )
    survey = CsatSurvey.objects.get(conversation=conv)
    assert (survey.agent, survey.due_at) == (agent, resolved_at + timedelta(minutes=10))
    assert SlaTarget.objects.get(conversation=conv, kind="window").state == "met"


def test_pending_pauses_through_the_signal(db):
    channel = SlaPolicyFactory(first_response=timedelta(hours=1), business_hours=False).channel
    conv = ConversationFactory(
        channel=channel, opened_at=T0, last_customer_message_at=T0, last_activity_at=T0
    )
    message = MessageFactory(conversation=conv, created_at=T0)
    signals.message_received.send(
        sender=None,
        message_ids=[message.pk],
        created_conversation_ids=[conv.pk],
        reopened_conversation_ids=[],
    )
    Conversation.objects.filter(pk=conv.pk).update(status="pending")
    EventFactory(
        conversation=conv,
        kind=Event.Kind.STATUS_CHANGED,
        data={"from": "new", "to": "pending"},
        created_at=T0 + timedelta(minutes=15),
    )
    signals.conversation_changed.send(
        sender=None, conversation_ids=[conv.pk], change=Event.Kind.STATUS_CHANGED, actor_id=None
    )
    first = SlaTarget.objects.get(conversation=conv, kind="first_response")
    assert (first.state, first.remaining_s) == ("paused", 45 * 60.0)
