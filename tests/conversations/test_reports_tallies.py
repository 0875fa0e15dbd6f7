"""The reports' pre-aggregates: the services keep them exactly as a rebuild from the messages
computes them, and the report's figures from them equal those counted from the messages."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command

from conversations import reports, services, tallies
from conversations.models import Conversation, MessageTally
from tests.conversations import test_reports as known
from tests.conversations.test_reports import NOW, PERIOD, report_for
from tests.factories import TemplateFactory

history = known.history  # the known history of test_reports.py

T0 = datetime(2025, 3, 10, 8, 59, 30, tzinfo=UTC)


def snapshot() -> tuple[list, list]:
    rows = sorted(
        MessageTally.objects.values_list(
            "channel_id", "hour", "author_key", "direction", "outside_window", "count"
        )
    )
    responders = sorted(Conversation.objects.values_list("id", "first_responder_id"))
    return rows, responders


@pytest.fixture
def no_dispatch(monkeypatch):
    from conversations.tasks import dispatch_message

    monkeypatch.setattr(dispatch_message, "delay", lambda _id: None)


def live_history(cast):
    """Inbound messages across an hour boundary, replies by two agents, a template outside
    the window, on two channels: all through the services."""
    first, _ = services.receive_inbound(
        channel=cast.channel, wa_id="491700000001", provider_message_id="in-1",
        sent_at=T0, type="text", body="hi", now=T0,
    )  # fmt: skip
    services.receive_inbound(
        channel=cast.channel, wa_id="491700000001", provider_message_id="in-2",
        sent_at=T0 + timedelta(seconds=40), type="text", body="again",
        now=T0 + timedelta(seconds=40),
    )  # fmt: skip
    conversation = Conversation.objects.get(pk=first.conversation_id)
    services.reply(
        conversation, author=cast.contributor, body="hello", now=T0 + timedelta(minutes=2)
    )
    conversation.refresh_from_db()
    services.reply(conversation, author=cast.supervisor, body="and", now=T0 + timedelta(minutes=3))
    template = TemplateFactory(channel=cast.channel)
    conversation.refresh_from_db()
    services.send_template(
        conversation, author=cast.supervisor, template=template,
        params=["x"] * tallies_params(template), now=T0 + timedelta(days=2),
    )  # fmt: skip
    services.receive_inbound(
        channel=cast.other_channel, wa_id="491700000002", provider_message_id="in-3",
        sent_at=T0, type="text", body="elsewhere", now=T0,
    )  # fmt: skip
    return conversation


def tallies_params(template) -> int:
    return services.template_placeholder_count(template)


def test_services_keep_tallies_and_first_responder_equal_to_a_rebuild(db, cast, no_dispatch):
    conversation = live_history(cast)
    conversation.refresh_from_db()
    assert conversation.first_responder == cast.contributor

    live = snapshot()
    by_key = {(r[1], r[2], r[3], r[4]): r[5] for r in live[0] if r[0] == cast.channel.pk}
    hour = datetime(2025, 3, 10, 8, tzinfo=UTC)
    assert by_key[(hour, 0, "in", False)] == 1  # 08:59:30
    assert by_key[(hour + timedelta(hours=1), 0, "in", False)] == 1  # 09:00:10
    assert by_key[(hour + timedelta(hours=1), cast.contributor.pk, "out", False)] == 1
    assert by_key[(hour + timedelta(days=2), cast.supervisor.pk, "out", True)] == 1

    MessageTally.objects.all().delete()
    Conversation.objects.update(first_responder=None)
    tallies.rebuild()
    assert snapshot() == live


def test_rebuild_of_one_channel_leaves_the_others(db, cast, no_dispatch):
    live_history(cast)
    live = snapshot()
    MessageTally.objects.filter(channel=cast.other_channel).update(count=99)
    tallies.rebuild(channel_ids=[cast.channel.pk])
    assert snapshot() != live
    tallies.rebuild(channel_ids=[cast.other_channel.pk])
    assert snapshot() == live


def test_rebuild_command_reports_what_it_wrote(db, cast, no_dispatch):
    live_history(cast)
    MessageTally.objects.all().delete()
    out = StringIO()
    call_command("rebuild_report_tallies", "--channel", str(cast.channel.pk), stdout=out)
    assert "5 tally rows written, 1 answered conversations updated." in out.getvalue()


def raw_message_figures(monkeypatch, *channels, period=PERIOD):
    """The report with messages counted from the message table (the fallback path)."""
    monkeypatch.setattr(reports, "_whole_hours", lambda _period: False)
    report = report_for(*channels, period=period)
    monkeypatch.undo()
    return report


def message_figures(report):
    return (
        report.summary.messages_in,
        report.summary.messages_out,
        report.summary.outside_window,
        [(d.day, d.messages_in, d.messages_out) for d in report.daily],
        [(a.user_id, a.replies, a.outside_window, a.first_responses) for a in report.agents],
    )


def test_figures_from_tallies_equal_those_counted_from_messages(history, monkeypatch):
    for channels in ((history.a,), (history.a, history.b)):
        from_tallies = report_for(*channels)
        assert message_figures(from_tallies) == message_figures(
            raw_message_figures(monkeypatch, *channels)
        )
    assert report_for(history.a).summary.messages_in == 7  # not vacuous


def test_a_half_hour_zone_counts_from_the_messages(history):
    # Kolkata days start at 18:30 UTC: not whole tally hours, so the messages are counted.
    kolkata = reports.Period(
        first=date(2025, 3, 10), last=date(2025, 3, 12), tz=ZoneInfo("Asia/Kolkata")
    )
    assert not reports._whole_hours(kolkata)
    assert reports._whole_hours(PERIOD)
    report = reports.build_report(channel_ids=[history.a.pk], period=kolkata, now=NOW)
    # 03-09 18:30 UTC .. 03-12 18:30 UTC: everything of the 10th and 11th (c1..c4), c5's,
    # c6's and c9's messages of the 9th evening and c2's template on the 12th; not c7 or c8.
    s = report.summary
    assert (s.messages_in, s.messages_out, s.outside_window) == (8, 7, 1)
