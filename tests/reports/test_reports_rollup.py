"""The conversation roll-up (reports.conversation_tallies, docs/reports.md): the report read
from it equals the report computed from the conversations, for random histories, time zones,
periods and watermarks; the beat roll-up keeps it current as conversations are answered,
tagged, resolved and reopened through the services; a rebuild writes what the roll-ups wrote."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels_app.transports import InboundMessage
from conversations import services
from conversations.models import Conversation, Event
from reports import build, conversation_figures, conversation_tallies, costs, figures, tallies
from reports import service_levels as levels
from reports.models import ConversationTally, TallyWatermark
from tests.factories import (
    ConversationFactory,
    EventFactory,
    MessageFactory,
    TagFactory,
    TopicFactory,
)
from tests.reports.test_reports_tallies import T0, late, live_history
from tests.service_levels.conftest import WEEKDAYS_9_TO_5, ServiceSettingsFactory, hours_of

# Around Berlin's spring-forward night (2025-03-30): a 23-hour day in the range.
BASE = datetime(2025, 3, 27, tzinfo=UTC)
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Pacific/Auckland"]
# A bucket is 2^(1/16) wide: a percentile read from buckets is within that of the exact one.
WIDTH = 2 ** (1 / conversation_tallies.BUCKETS_PER_OCTAVE) - 1
RESOLUTIONS = ["agent", "auto_new", "auto_pending", "survey_answer"]


def durations_equal(a, b) -> bool:
    a, b = a.seconds if hasattr(a, "seconds") else a, b.seconds if hasattr(b, "seconds") else b
    if a is None or b is None:
        return a is b
    return abs(a - b) <= WIDTH * max(abs(a), abs(b)) + 1e-6


def comparable(report, business):
    """(exact figures, [(name, duration)]) of a report and its business-hours times."""
    s = report.summary
    exact = (
        s.opened, s.resolved, s.resolved_by_agents, s.resolved_automatically, s.reopened,
        s.first_response.count, s.resolution.count,
        [(d.day, d.opened, d.resolved) for d in report.daily],
        sorted((a.user_id, a.resolved, a.first_responses) for a in report.agents),
        sorted((t.id, t.opened, t.resolved) for t in report.tags),
        sorted((t.id, t.opened, t.resolved) for t in report.topics),
        business[0].count, business[1].count,
    )  # fmt: skip
    durations = [
        ("first response median", s.first_response.median),
        ("first response p90", s.first_response.p90),
        ("resolution median", s.resolution.median),
        ("resolution p90", s.resolution.p90),
        *((f"day {d.day}", d.first_response_median) for d in report.daily),
        *((f"agent {a.user_id}", a.first_response_median) for a in sorted(
            report.agents, key=lambda a: a.user_id)),
        *((f"tag {t.id}", t.first_response_median) for t in sorted(
            report.tags, key=lambda t: t.id)),
        *((f"topic {t.id}", t.first_response_median) for t in sorted(
            report.topics, key=lambda t: t.id)),
        ("business first response median", business[0].median),
        ("business first response p90", business[0].p90),
        ("business resolution median", business[1].median),
        ("business resolution p90", business[1].p90),
    ]  # fmt: skip
    return exact, durations


def both_ways(monkeypatch, ids, period, now):
    """The report and business times read from the roll-up, and computed directly."""
    rolled = comparable(
        build.build_report(channel_ids=ids, period=period, now=now),
        levels._business_times(ids, period),
    )
    monkeypatch.setattr(build, "_whole_hours", lambda _period: False)
    direct = comparable(
        build.build_report(channel_ids=ids, period=period, now=now),
        levels._business_times(ids, period),
    )
    monkeypatch.undo()
    return rolled, direct


def assert_same(rolled, direct):
    assert rolled[0] == direct[0]
    for (name, a), (_n, b) in zip(rolled[1], direct[1], strict=True):
        assert durations_equal(a, b), (name, a, b)


conversation_specs = st.lists(
    st.fixed_dictionaries(
        {
            "channel": st.integers(0, 1),
            "opened": st.integers(0, 6 * 24 * 3600),  # seconds after BASE
            "first": st.none() | st.integers(0, 2 * 86400),
            "responder": st.none() | st.integers(0, 2),
            "resolved": st.none()
            | st.tuples(st.integers(0, 3 * 86400), st.sampled_from(RESOLUTIONS), st.integers(0, 2)),
            "status": st.sampled_from(["new", "pending"]),
            "tags": st.sets(st.integers(0, 1)),
            "topics": st.sets(st.integers(0, 0)),
            "reopens": st.lists(st.integers(0, 2 * 86400), max_size=2),
        }
    ),
    max_size=12,
)


@pytest.fixture
def no_dispatch(monkeypatch):
    from conversations.tasks import dispatch_message

    monkeypatch.setattr(dispatch_message, "delay", lambda _id: None)


@pytest.fixture
def world(cast):
    """Channel A keeps business hours (weekdays 9-17 in Berlin); channel B is open around the
    clock. Three agents, two tags, a topic."""
    hours_of(
        ServiceSettingsFactory(channel=cast.channel, time_zone="Europe/Berlin"), WEEKDAYS_9_TO_5
    )
    return {
        "channels": [cast.channel, cast.other_channel],
        "agents": [cast.supervisor, cast.contributor, cast.team_contributor],
        "tags": [TagFactory(name="billing"), TagFactory(name="vip")],
        "topics": [TopicFactory(name="Orders")],
    }


def make(world, specs):
    Conversation.objects.all().delete()
    ConversationTally.objects.all().delete()
    TallyWatermark.objects.all().delete()
    for spec in specs:
        opened = BASE + timedelta(seconds=spec["opened"])
        kwargs = {"status": spec["status"]}
        if spec["first"] is not None:
            kwargs["first_response_at"] = opened + timedelta(seconds=spec["first"])
            if spec["responder"] is not None:
                kwargs["first_responder"] = world["agents"][spec["responder"]]
        if spec["resolved"] is not None:
            after, resolution, agent = spec["resolved"]
            kwargs.update(
                status="resolved",
                resolved_at=opened + timedelta(seconds=after),
                resolution=resolution,
                resolved_by=world["agents"][agent] if resolution == "agent" else None,
            )
        c = ConversationFactory(
            channel=world["channels"][spec["channel"]],
            opened_at=opened,
            last_customer_message_at=opened,
            last_activity_at=opened,
            **kwargs,
        )
        c.tags.set([world["tags"][i] for i in spec["tags"]])
        c.topics.set([world["topics"][i] for i in spec["topics"]])
        for after in spec["reopens"]:
            EventFactory(
                conversation=c,
                kind=Event.Kind.STATUS_CHANGED,
                data={"from": "resolved", "to": "new", "reopened": True},
                created_at=opened + timedelta(seconds=after),
            )


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    specs=conversation_specs,
    zone=st.sampled_from(ZONES),
    first=st.integers(-1, 6),
    days=st.integers(0, 3),
    rolled_to=st.none() | st.integers(0, 8 * 24),
    both=st.booleans(),
)
def test_the_roll_up_gives_the_figures_of_the_direct_computation(
    world, monkeypatch, specs, zone, first, days, rolled_to, both
):
    make(world, specs)
    if rolled_to is not None:
        # The watermark anywhere: before, inside or after the data and the period, so hours
        # come from the tallies, are computed live, or both.
        upto = BASE + timedelta(hours=rolled_to)
        conversation_tallies.rebuild(channel_ids=None, upto=upto)
        TallyWatermark.objects.create(upto=upto, updated_at=upto)
    start = BASE.date() + timedelta(days=first)
    period = figures.Period(first=start, last=start + timedelta(days=days), tz=ZoneInfo(zone))
    assert build._whole_hours(period)
    channels = world["channels"] if both else world["channels"][:1]
    rolled, direct = both_ways(
        monkeypatch, [c.pk for c in channels], period, BASE + timedelta(days=9)
    )
    assert_same(rolled, direct)


def test_a_percentile_from_buckets_is_exact_for_one_or_two_values_per_bucket():
    values = [30.0, 60.0, 120.0, 300.0, 1000.0, 1000.5]
    buckets: dict = {}
    for v in values:
        slot = buckets.setdefault(conversation_tallies.bucket(v), [0, v, v])
        slot[0] += 1
        slot[1], slot[2] = min(slot[1], v), max(slot[2], v)
    # 0.5 * 5 = 2.5 -> halfway 120..300; 0.9 * 5 = 4.5 -> halfway 1000..1000.5
    assert conversation_figures.percentiles(buckets) == [210.0, 1000.25]
    assert conversation_figures.percentiles({}) == [None, None]
    # Many values in one bucket: interpolated between its smallest and largest, within it.
    dense = {conversation_tallies.bucket(100.0): [5, 100.0, 102.0]}
    assert conversation_figures.percentiles(dense, (50,)) == [101.0]


def test_a_half_hour_zone_computes_from_the_conversations(db, cast):
    kolkata = figures.Period(
        first=date(2025, 3, 27), last=date(2025, 3, 28), tz=ZoneInfo("Asia/Kolkata")
    )
    assert not build._whole_hours(kolkata)


# --- kept current by the beat roll-up, through the services -------------------------------------


def report_now(monkeypatch, channel, now):
    period = figures.Period(first=date(2025, 3, 9), last=date(2025, 3, 14), tz=ZoneInfo("UTC"))
    rolled, direct = both_ways(monkeypatch, [channel.pk], period, now)
    assert_same(rolled, direct)
    return rolled[0]


def test_the_roll_up_keeps_the_figures_current_through_the_services(
    db,
    cast,
    no_dispatch,
    monkeypatch,
):
    conversation = live_history(cast)  # opened 08:59:30 on 03-10, answered, a template 2 days on
    tallies.roll_up(now=late(0))
    exact = report_now(monkeypatch, cast.channel, late(0))
    assert (exact[0], exact[1], exact[5]) == (1, 0, 1)  # opened, resolved, answered

    # Resolved by an agent and tagged days later: the opening hour is rolled up already, and
    # the next run recounts it (the tag's resolved count, the agent's resolved column).
    tag = TagFactory(name="refund")
    resolved_at = T0 + timedelta(days=3)
    services.add_tag(conversation, tag=tag, actor=cast.supervisor, now=resolved_at)
    services.move_conversation(conversation, to="resolved", actor=cast.supervisor, now=resolved_at)
    tallies.roll_up(now=resolved_at + timedelta(hours=2))
    exact = report_now(monkeypatch, cast.channel, resolved_at + timedelta(hours=2))
    assert (exact[1], exact[2]) == (1, 1)  # resolved, by agents
    assert exact[9] == [(tag.pk, 1, 1)]  # the tag: opened 1, resolved now 1
    assert (cast.supervisor.pk, 1, 0) in exact[8]

    # Reopened: the resolving hour and the opening hour are recounted; one reopen counted.
    reopened_at = resolved_at + timedelta(hours=3)
    conversation.refresh_from_db()
    services.move_conversation(conversation, to="pending", actor=cast.supervisor, now=reopened_at)
    tallies.roll_up(now=reopened_at + timedelta(hours=2))
    exact = report_now(monkeypatch, cast.channel, reopened_at + timedelta(hours=2))
    assert (exact[1], exact[2], exact[4]) == (0, 0, 1)
    assert exact[9] == [(tag.pk, 1, 0)]

    # A new customer message opens a second conversation: live first, then rolled up.
    later = reopened_at + timedelta(hours=3)
    services.receive_inbound(
        channel=cast.channel,
        message=InboundMessage(
            wa_id="491700000077", provider_message_id="in-77", sent_at=later, type="text",
            body="new one",
        ),
        now=later,
    )  # fmt: skip
    assert report_now(monkeypatch, cast.channel, later)[0] == 2
    tallies.roll_up(now=later + timedelta(hours=2))
    assert report_now(monkeypatch, cast.channel, later + timedelta(hours=2))[0] == 2

    # Everything the roll-ups wrote equals a rebuild from scratch.
    rows = snapshot()
    ConversationTally.objects.all().delete()
    tallies.rebuild(now=later + timedelta(hours=2))
    assert snapshot() == rows


def snapshot() -> list:
    return sorted(
        ConversationTally.objects.values_list(
            "channel_id", "day", "start", "measure", "dim", "key", "bucket", "n", "n_resolved",
            "low", "high",
        )
    )  # fmt: skip


def test_the_rebuild_command_writes_the_conversation_tallies(db, cast, no_dispatch):
    live_history(cast)
    call_command("rebuild_report_tallies", stdout=StringIO())
    opened = ConversationTally.objects.filter(
        measure=ConversationTally.Measure.FIRST_RESPONSE, dim=ConversationTally.Dim.ALL, day=False
    )
    assert sum(opened.values_list("n", flat=True)) == Conversation.objects.count() == 2


# --- messaging costs ------------------------------------------------------------------------------

PRICINGS = [
    {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "marketing"},
    {"pricing_model": "PMP", "type": "regular", "category": "utility"},
    {"pricing_model": "PMP", "type": "free_customer_service", "category": "service"},
    {"billable": False, "pricing_model": "CBP", "category": "Authentication"},
]


def cost_table(c):
    rows = (c.by_category, c.by_channel, c.by_agent, c.by_template)
    return (
        c.billable,
        c.free,
        str(c.cost),
        [[(r.name, r.billable, r.free) for r in t] for t in rows],
    )


@pytest.mark.parametrize("rolled_hours", [0, 20, 30, 60])
def test_the_costs_from_the_roll_up_equal_those_counted_from_the_messages(
    cast, monkeypatch, settings, rolled_hours
):
    settings.MESSAGING_RATES = {"marketing": "0.06", "utility": "0.02"}
    conversation = ConversationFactory(channel=cast.channel)
    other = ConversationFactory(channel=cast.other_channel)
    agents = [None, cast.supervisor, cast.contributor]
    for n in range(40):
        MessageFactory(
            conversation=other if n % 7 == 0 else conversation,
            direction="out" if n % 5 else "in",
            author=agents[n % 3],
            created_at=BASE + timedelta(minutes=97 * n),
            payload={"pricing": PRICINGS[n % 4]} if n % 6 else {},
        )
    upto = BASE + timedelta(hours=rolled_hours)
    tallies.rebuild(now=upto + tallies.SETTLE)
    assert tallies.watermark() == upto
    start, end = BASE + timedelta(hours=3), BASE + timedelta(hours=50)
    for ids in ([cast.channel.pk], [cast.channel.pk, cast.other_channel.pk]):
        rolled = cost_table(costs.messaging_costs(channel_ids=ids, start=start, end=end))
        monkeypatch.setattr(costs, "_whole_hours", lambda *_m: False)
        direct = cost_table(costs.messaging_costs(channel_ids=ids, start=start, end=end))
        monkeypatch.undo()
        assert rolled == direct
        assert rolled[0] > 0  # not vacuous
