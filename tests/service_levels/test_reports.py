"""The reports' service-level figures, asserted exactly from fixed timestamps: % of targets met
per target, channel, agent, tag and day; first response and resolution in business hours; CSAT
score and response rate per agent, tag and day, with the comments."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from channels_app.access import Role
from reports import figures
from reports import service_levels as report
from service_levels import hours
from service_levels.models import CsatSurvey, ServiceSettings, SlaTarget
from tests.factories import (
    ChannelFactory,
    ConversationFactory,
    GrantFactory,
    TagFactory,
    UserFactory,
)
from tests.service_levels.conftest import (
    WEEKDAYS_9_TO_5,
    ServiceSettingsFactory,
    hours_of,
    local,
    utc,
)

BERLIN = ZoneInfo("Europe/Berlin")  # UTC+1 in March 2026 until the 29th
PERIOD = figures.Period(first=date(2026, 3, 9), last=date(2026, 3, 11), tz=BERLIN)  # Mon-Wed


def berlin(text):
    return local("Europe/Berlin", f"2026-03-{text}")


def clock(conv, kind, settled, *, agent=None, breached=False):
    return SlaTarget.objects.create(
        conversation=conv,
        channel=conv.channel,
        kind=kind,
        state="met" if not breached else "paused",
        target_s=600,
        started_at=settled - timedelta(minutes=5),
        settled_at=settled,
        met_at=None if breached else settled,
        breached_at=settled if breached else None,
        agent=agent,
    )


def survey(conv, agent, sent, *, score=None, comment="", state=None):
    return CsatSurvey.objects.create(
        conversation=conv,
        channel=conv.channel,
        contact=conv.contact,
        agent=agent,
        state=state or ("answered" if score else "sent"),
        resolved_at=sent - timedelta(minutes=10),
        due_at=sent,
        sent_at=sent,
        score=score,
        answered_at=sent + timedelta(minutes=1) if score else None,
        comment=comment,
    )


@pytest.fixture
def world(db):
    channel = hours_of(ServiceSettingsFactory(time_zone="Europe/Berlin"), WEEKDAYS_9_TO_5).channel
    other = ChannelFactory()
    alice = UserFactory(first_name="Alice", last_name="Adams")
    bob = UserFactory(first_name="Bob", last_name="Brown")
    vip = TagFactory(name="vip")

    def conv(opened, *, first=None, resolved=None, ch=None):
        return ConversationFactory(
            channel=ch or channel,
            opened_at=opened,
            last_activity_at=opened,
            first_response_at=first,
            resolved_at=resolved,
            status="resolved" if resolved else "new",
        )

    # Business times: c1 opened before opening (08:30), answered 09:10 (10 min), resolved
    # 17:30 (the whole day: 8 h); c2 opened 16:50, answered Tuesday 09:20 (10 + 20 min);
    # c3 answered in 5 minutes.
    c1 = conv(berlin("09 08:30"), first=berlin("09 09:10"), resolved=berlin("09 17:30"))
    c2 = conv(berlin("09 16:50"), first=berlin("10 09:20"))
    c3 = conv(berlin("10 10:00"), first=berlin("10 10:05"))
    c3.tags.add(vip)
    outside = conv(berlin("12 10:00"), first=berlin("12 10:01"))  # Thursday: not in the period
    elsewhere = conv(berlin("09 10:00"), first=berlin("09 10:01"), ch=other)

    clock(c1, "first_response", utc("2026-03-09 10:00"), agent=alice)
    clock(c2, "first_response", utc("2026-03-09 11:00"), agent=bob, breached=True)
    clock(c3, "resolution", utc("2026-03-10 12:00"), agent=alice)
    clock(c3, "next_response", utc("2026-03-10 13:00"), agent=alice, breached=True)
    clock(c1, "next_response", utc("2026-03-11 22:59"), agent=alice)  # 23:59 Berlin: in
    clock(outside, "first_response", utc("2026-03-11 23:00"), agent=alice)  # Thursday 00:00
    clock(elsewhere, "first_response", utc("2026-03-09 10:00"), agent=alice)
    clock(c1, "window", utc("2026-03-09 10:00"), agent=alice)  # never a target

    survey(c1, alice, utc("2026-03-09 18:00"), score=5, comment="Great help")
    survey(c2, alice, utc("2026-03-10 18:00"), score=3)
    survey(c2, bob, utc("2026-03-10 19:00"))
    survey(c3, bob, utc("2026-03-11 09:00"), score=4)
    survey(c3, bob, utc("2026-03-11 09:30"), state="skipped")
    survey(outside, bob, utc("2026-03-12 09:00"), score=1, comment="late")
    survey(elsewhere, bob, utc("2026-03-09 09:00"), score=1)
    return channel, alice, bob, vip


def rows(items):
    return [(r.name, r.settled, r.met, r.percent) for r in items]


def test_targets_met_per_target_channel_agent_tag_and_day(world):
    channel, *_ = world
    result = report.build(channel_ids=[channel.pk], period=PERIOD)
    assert rows(result.targets) == [
        ("First response", 2, 1, 50.0),
        ("Next response", 2, 1, 50.0),
        ("Resolution", 1, 1, 100.0),
        ("", 5, 3, 60.0),
    ]
    assert rows(result.channels) == [(str(channel), 5, 3, 60.0)]
    assert rows(result.agents) == [("Alice Adams", 4, 3, 75.0), ("Bob Brown", 1, 0, 0.0)]
    assert rows(result.tags) == [("vip", 2, 1, 50.0)]
    assert [(r.key, r.settled, r.met) for r in result.days] == [
        (date(2026, 3, 9), 2, 1),
        (date(2026, 3, 10), 2, 1),
        (date(2026, 3, 11), 1, 1),
    ]


def test_first_response_and_resolution_in_business_hours(world):
    channel, *_ = world
    result = report.build(channel_ids=[channel.pk], period=PERIOD)
    first = result.first_response_business
    assert (first.count, first.median.seconds, first.p90.seconds) == (3, 600.0, 1560.0)
    resolution = result.resolution_business
    assert (resolution.count, resolution.median.seconds) == (1, 8 * 3600.0)


def test_csat_score_and_response_rate_per_agent_tag_and_day_with_comments(world):
    channel, *_ = world
    result = report.build(channel_ids=[channel.pk], period=PERIOD)

    def csat(r):
        return (r.name, r.sent, r.answered, r.response_rate, r.average, r.percent_satisfied)

    assert csat(result.csat) == ("", 4, 3, 75.0, 4.0, 66.7)
    assert [csat(r) for r in result.csat_agents] == [
        ("Alice Adams", 2, 2, 100.0, 4.0, 50.0),
        ("Bob Brown", 2, 1, 50.0, 4.0, 100.0),
    ]
    assert [csat(r) for r in result.csat_tags] == [("vip", 1, 1, 100.0, 4.0, 100.0)]
    assert [(r.key, r.sent, r.answered) for r in result.csat_days] == [
        (date(2026, 3, 9), 1, 1),
        (date(2026, 3, 10), 2, 1),
        (date(2026, 3, 11), 1, 1),
    ]
    assert [(c.score, c.comment, c.agent) for c in result.comments] == [
        (5, "Great help", "Alice Adams")
    ]
    assert result.as_dict()["csat"]["response_rate"] == 75.0


def test_the_reports_page_shows_the_service_levels(client, cast, world):
    channel, *_ = world
    GrantFactory(channel=channel, user=cast.supervisor, role=Role.SUPERVISOR)
    client.force_login(cast.supervisor)
    html = client.get(
        reverse("reports:index"),
        {"range": "custom", "from": "2026-03-09", "to": "2026-03-11", "channel": channel.pk},
    ).content.decode()
    assert "Service levels" in html
    # The page's days are the user's (UTC here): Thursday 00:00 Berlin is still Wednesday.
    assert "4 of 6 targets settled in the period" in html
    assert "Great help" in html


def test_around_the_clock_the_business_figures_come_from_sql_and_equal_the_python_ones(
    world, monkeypatch
):
    """Without business hours the figures are taken in SQL (2M conversations with 10M messages
    in range stay in the database); they equal the per-conversation computation exactly."""
    channel, *_ = world
    ServiceSettings.objects.filter(channel=channel).update(hours_enabled=False)
    in_sql = report.build(channel_ids=[channel.pk], period=PERIOD)
    # A schedule that is open around the clock but not the shared sentinel: the Python path.
    monkeypatch.setattr(hours, "schedules", lambda ids: {pk: hours.AlwaysOpen() for pk in set(ids)})
    in_python = report.build(channel_ids=[channel.pk], period=PERIOD)

    def figures_of(spread):
        return (spread.count, spread.median.seconds, spread.p90.seconds)

    for name in ("first_response_business", "resolution_business"):
        sql_figures = figures_of(getattr(in_sql, name))
        assert sql_figures == pytest.approx(figures_of(getattr(in_python, name)))
        assert sql_figures[0] > 0
