"""The reports' pre-aggregates: the message path writes no tally; the roll-up (and a rebuild)
computes them from the messages, and the report's figures equal those counted from the
messages before, across and after a roll-up watermark."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db.models import Sum

from channels_app.transports import InboundMessage
from conversations import services
from conversations.models import Conversation
from reports import build, figures, tallies
from reports.models import MessageTally
from tests.factories import TemplateFactory
from tests.reports import test_reports as known
from tests.reports.test_reports import NOW, PERIOD, report_for

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
        channel=cast.channel,
        message=InboundMessage(
            wa_id="491700000001",
            provider_message_id="in-1",
            sent_at=T0,
            type="text",
            body="hi",
        ),
        now=T0,
    )  # fmt: skip
    services.receive_inbound(
        channel=cast.channel,
        message=InboundMessage(
            wa_id="491700000001",
            provider_message_id="in-2",
            sent_at=T0 + timedelta(seconds=40),
            type="text",
            body="again",
        ),
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
        channel=cast.other_channel,
        message=InboundMessage(
            wa_id="491700000002",
            provider_message_id="in-3",
            sent_at=T0,
            type="text",
            body="elsewhere",
        ),
        now=T0,
    )  # fmt: skip
    return conversation


def tallies_params(template) -> int:
    return services.template_placeholder_count(template)


def late(hours: float = 0) -> datetime:
    """A roll-up instant: the hour boundary after T0 plus ``hours``, once settled."""
    return datetime(2025, 3, 10, 9, tzinfo=UTC) + timedelta(hours=hours) + tallies.SETTLE


def test_the_message_path_writes_no_tally_only_the_first_responder(db, cast, no_dispatch):
    # No shared counter row on the message path: concurrent webhooks of one busy channel never
    # wait on each other's tally update.
    conversation = live_history(cast)
    conversation.refresh_from_db()
    assert conversation.first_responder == cast.contributor
    assert not MessageTally.objects.exists()
    assert tallies.watermark() is None


def test_figures_equal_raw_counts_before_across_and_after_a_roll_up(
    db, cast, no_dispatch, monkeypatch
):
    live_history(cast)
    raw = message_figures(raw_message_figures(monkeypatch, cast.channel))
    assert raw[0:3] == (2, 3, 1)  # in-1, in-2 (in-3 is elsewhere); 2 replies and a template

    assert message_figures(report_for(cast.channel)) == raw  # nothing rolled up: all live

    # 08:59:30 (in-1) is before the watermark, 09:00:10 and the replies after it.
    result = tallies.roll_up(now=late(0))
    assert tallies.watermark() == datetime(2025, 3, 10, 9, tzinfo=UTC)
    assert result["tallies"] == 2  # in-1 on this channel, in-3 on the other
    assert message_figures(report_for(cast.channel)) == raw

    rolled = snapshot()
    tallies.roll_up(now=late(0))  # idempotent: the same hours, the same counts
    assert snapshot() == rolled

    tallies.roll_up(now=late(1))  # the 09:00 hour too; the template (two days on) stays live
    assert message_figures(report_for(cast.channel)) == raw
    tallies.roll_up(now=late(72))
    assert MessageTally.objects.filter(channel=cast.channel).aggregate(n=Sum("count"))["n"] == 5
    assert message_figures(report_for(cast.channel)) == raw
    assert message_figures(report_for(cast.channel, cast.other_channel)) == message_figures(
        raw_message_figures(monkeypatch, cast.channel, cast.other_channel)
    )

    # Whatever the roll-ups did equals a rebuild from scratch.
    everything = snapshot()
    MessageTally.objects.all().delete()
    Conversation.objects.update(first_responder=None)
    tallies.rebuild(now=late(72))
    assert snapshot() == everything


def test_a_message_committed_late_is_counted_by_the_next_roll_up(db, cast, no_dispatch):
    live_history(cast)
    tallies.roll_up(now=late(1))
    before = report_for(cast.channel).summary.messages_in
    # A transaction that took longer than SETTLE: its message lies behind the watermark.
    services.receive_inbound(
        channel=cast.channel,
        message=InboundMessage(
            wa_id="491700000009",
            provider_message_id="in-late",
            sent_at=T0,
            type="text",
            body="slow",
        ),
        now=datetime(2025, 3, 10, 9, 59, tzinfo=UTC),
    )  # fmt: skip
    tallies.roll_up(now=late(1) + timedelta(minutes=5))  # within LOOKBACK of the watermark
    assert report_for(cast.channel).summary.messages_in == before + 1


def test_rebuild_of_one_channel_leaves_the_others(db, cast, no_dispatch):
    live_history(cast)
    tallies.roll_up(now=late(72))
    live = snapshot()
    MessageTally.objects.filter(channel=cast.other_channel).update(count=99)
    tallies.rebuild(channel_ids=[cast.channel.pk])
    assert snapshot() != live
    tallies.rebuild(channel_ids=[cast.other_channel.pk])
    assert snapshot() == live


def test_rebuild_command_reports_what_it_wrote(db, cast, no_dispatch):
    live_history(cast)
    tallies.roll_up(now=late(72))
    MessageTally.objects.all().delete()
    out = StringIO()
    call_command("rebuild_report_tallies", "--channel", str(cast.channel.pk), stdout=out)
    assert "5 tally rows written, 1 answered conversations updated." in out.getvalue()
    assert MessageTally.objects.filter(channel=cast.other_channel).count() == 0


def test_the_beat_task_rolls_up_to_the_last_settled_hour(db, cast, no_dispatch):
    from django.conf import settings

    from reports.tasks import roll_up_report_tallies

    entry = settings.CELERY_BEAT_SCHEDULE["roll-up-report-tallies"]
    assert entry["task"] == roll_up_report_tallies.name
    live_history(cast)
    result = roll_up_report_tallies()
    assert tallies.watermark() == datetime.fromisoformat(result["upto"])
    assert MessageTally.objects.aggregate(n=Sum("count"))["n"] == 6


def test_a_task_queued_under_the_old_name_still_rolls_up(db, cast, no_dispatch):
    """Beat queued ``conversations.tasks.roll_up_report_tallies`` before the reports moved into
    their own app; a worker of the new code still knows that name."""
    from config.celery import app

    live_history(cast)
    result = app.tasks["conversations.tasks.roll_up_report_tallies"].apply().get()
    assert tallies.watermark() == datetime.fromisoformat(result["upto"])
    assert MessageTally.objects.aggregate(n=Sum("count"))["n"] == 6


def raw_message_figures(monkeypatch, *channels, period=PERIOD):
    """The report with messages counted from the message table (the fallback path)."""
    monkeypatch.setattr(build, "_whole_hours", lambda _period: False)
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
    kolkata = figures.Period(
        first=date(2025, 3, 10), last=date(2025, 3, 12), tz=ZoneInfo("Asia/Kolkata")
    )
    assert not build._whole_hours(kolkata)
    assert build._whole_hours(PERIOD)
    report = build.build_report(channel_ids=[history.a.pk], period=kolkata, now=NOW)
    # 03-09 18:30 UTC .. 03-12 18:30 UTC: everything of the 10th and 11th (c1..c4), c5's,
    # c6's and c9's messages of the 9th evening and c2's template on the 12th; not c7 or c8.
    s = report.summary
    assert (s.messages_in, s.messages_out, s.outside_window) == (8, 7, 1)


def test_resolved_by_is_the_resolving_agent_cleared_by_a_reopen_and_empty_when_automatic(
    db, cast, no_dispatch
):
    from conversations.services import autoresolve

    conversation = live_history(cast)
    services.move_conversation(
        conversation, to="resolved", actor=cast.supervisor, now=T0 + timedelta(days=2, hours=1)
    )
    conversation.refresh_from_db()
    assert conversation.resolved_by == cast.supervisor

    services.move_conversation(
        conversation, to="pending", actor=cast.supervisor, now=T0 + timedelta(days=2, hours=2)
    )
    conversation.refresh_from_db()
    assert (conversation.resolved_by, conversation.resolved_at) == (None, None)

    # Auto-resolve leaves it empty: nobody to credit.
    autoresolve.autoresolve(now=T0 + timedelta(days=90), batch_size=100)
    conversation.refresh_from_db()
    assert (conversation.status, conversation.resolution) == ("resolved", "auto_pending")
    assert conversation.resolved_by is None
