"""Through the conversations' real writers and their after-commit announcements: a customer's
message on a closed channel (the away message, once; the clocks start), the agent's reply (the
first response is met; the away message never counted), Pending (the clocks pause), resolve
(the survey is scheduled), on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from channels_app.transports import InboundMessage
from conversations import services
from conversations.models import Conversation, Message
from service_levels.models import CsatSurvey, SlaTarget
from tests.factories import GrantFactory, UserFactory
from tests.service_levels.conftest import ServiceSettingsFactory, SlaPolicyFactory, hours_of

SATURDAY = datetime(2026, 6, 6, 10, 0, tzinfo=UTC)


def test_the_writers_drive_the_service_levels(db, django_capture_on_commit_callbacks):
    from channels_app.access import Role

    row = hours_of(
        ServiceSettingsFactory(
            time_zone="UTC",
            away_enabled=True,
            away_text="We are closed until Monday 9:00.",
            csat_enabled=True,
        ),
        {d: ["09:00-17:00"] for d in range(5)},
    )
    channel = row.channel
    SlaPolicyFactory(channel=channel, first_response=timedelta(hours=1), business_hours=False)
    agent = UserFactory()
    GrantFactory(channel=channel, user=agent, role=Role.SUPERVISOR)

    def inbound(n, at):
        with django_capture_on_commit_callbacks(execute=True):
            message, _ = services.receive_inbound(
                channel=channel,
                message=InboundMessage(
                    wa_id="4915112345678",
                    profile_name="Dana",
                    provider_message_id=f"wamid.E2E{n}",
                    sent_at=at,
                    type="text",
                    body=f"hello {n}",
                ),
                now=at,
            )
        return message.conversation

    conv = inbound(1, SATURDAY)
    inbound(2, SATURDAY + timedelta(minutes=5))
    away = list(Message.objects.filter(conversation=conv, direction="out"))
    assert [(m.body, m.author_id) for m in away] == [("We are closed until Monday 9:00.", None)]
    first = SlaTarget.objects.get(conversation=conv, kind="first_response")
    assert first.due_at == SATURDAY + timedelta(hours=1)

    conv = Conversation.objects.get(pk=conv.pk)
    with django_capture_on_commit_callbacks(execute=True):
        services.reply(conv, author=agent, body="Hi Dana!", now=SATURDAY + timedelta(minutes=20))
    first.refresh_from_db()
    assert (first.state, first.agent) == ("met", agent)
    conv.refresh_from_db()
    assert conv.first_responder == agent  # not the away message

    with django_capture_on_commit_callbacks(execute=True):
        services.move_conversation(
            conv, to="resolved", actor=agent, now=SATURDAY + timedelta(minutes=30)
        )
    survey = CsatSurvey.objects.get(conversation=conv)
    assert (survey.agent, survey.state) == (agent, "scheduled")
