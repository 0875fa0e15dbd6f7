"""The report's figures over a known history with fixed timestamps (days in Europe/Berlin)."""

from __future__ import annotations

import itertools
import math
import random
from datetime import UTC, date, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from conversations.models import Conversation, Event, Message
from reports import build, conversation_tallies, figures, sql, tallies
from tests.factories import (
    ConversationFactory,
    EventFactory,
    MessageFactory,
    TagFactory,
    TopicFactory,
    UserFactory,
)

BERLIN = ZoneInfo("Europe/Berlin")  # UTC+1 in March 2025 (DST starts on the 30th)
PERIOD = figures.Period(first=date(2025, 3, 10), last=date(2025, 3, 12), tz=BERLIN)
NOW = datetime(2025, 3, 13, 12, 0, tzinfo=UTC)
NEW, PENDING, RESOLVED = Conversation.Status.NEW, Conversation.Status.PENDING, "resolved"


def at(text: str) -> datetime:
    """An instant written in UTC, e.g. at("03-10 08:00:00")."""
    return datetime.fromisoformat(f"2025-{text}").replace(tzinfo=UTC)


def conversation(channel, opened, *, status=NEW, activity=None, **kwargs):
    return ConversationFactory(
        channel=channel,
        opened_at=opened,
        last_customer_message_at=opened,
        last_activity_at=activity or opened,
        status=status,
        **kwargs,
    )


def msg(conv, when, *, out=False, author=None, outside=False):
    return MessageFactory(
        conversation=conv,
        direction=Message.Direction.OUTBOUND if out else Message.Direction.INBOUND,
        author=author,
        created_at=when,
        sent_outside_window=outside,
    )


def resolve(conv, when, *, by):
    """As the services leave it: resolved_at, resolution, resolved_by and an event at the same
    instant."""
    conv.status, conv.resolved_at, conv.assignee, conv.resolved_by = RESOLVED, when, None, by
    if by is None:
        conv.resolution = Conversation.Resolution.AUTO_PENDING
        EventFactory(conversation=conv, kind=Event.Kind.AUTO_RESOLVED, actor=None, created_at=when)
    else:
        conv.resolution = Conversation.Resolution.AGENT
        EventFactory(
            conversation=conv,
            kind=Event.Kind.STATUS_CHANGED,
            actor=by,
            data={"from": "pending", "to": "resolved"},
            created_at=when,
        )
    conv.save()


@pytest.fixture
def history(cast):
    """Channel A (cast.channel) with a known week; channel B with data that must never leak.

    First responses (s): c1 60 (alice), c2 120 (bob), c3 300 (alice), c6 1000 (alice),
    c7 30 (bob). Resolutions in the period: c1 by alice (7200 s), c5 by bob (129600 s),
    c3 auto-resolved (124200 s).
    """
    a, b = cast.channel, cast.other_channel
    alice = UserFactory(username="alice", first_name="Alice", last_name="Agent")
    bob = UserFactory(username="bob", first_name="", last_name="")
    bart = UserFactory(username="bart", first_name="Bart", last_name="Other")
    billing, vip = TagFactory(name="billing"), TagFactory(name="vip")
    orders = TopicFactory(name="Orders")

    c1 = conversation(a, at("03-10 08:00:00"), first_response_at=at("03-10 08:01:00"))
    msg(c1, at("03-10 08:00:00"))
    msg(c1, at("03-10 08:01:00"), out=True, author=alice)
    msg(c1, at("03-10 08:05:00"))
    msg(c1, at("03-10 08:06:00"), out=True, author=alice)
    resolve(c1, at("03-10 10:00:00"), by=alice)
    c1.tags.add(billing)
    c1.topics.add(orders)

    c2 = conversation(
        a,
        at("03-10 09:00:00"),
        status=PENDING,
        activity=at("03-12 09:00:00"),
        first_response_at=at("03-10 09:02:00"),
    )
    msg(c2, at("03-10 09:00:00"))
    msg(c2, at("03-10 09:02:00"), out=True, author=bob)
    msg(c2, at("03-12 09:00:00"), out=True, author=bob, outside=True)
    c2.tags.add(billing)

    # 23:30 UTC on the 10th is 00:30 on the 11th in Berlin.
    c3 = conversation(a, at("03-10 23:30:00"), first_response_at=at("03-10 23:35:00"))
    msg(c3, at("03-10 23:30:00"))
    msg(c3, at("03-10 23:35:00"), out=True, author=alice)
    resolve(c3, at("03-12 10:00:00"), by=None)
    c3.topics.add(orders)

    c4 = conversation(a, at("03-11 12:00:00"))
    msg(c4, at("03-11 12:00:00"))
    c4.tags.add(vip)

    # Opened and first answered before the period, resolved inside it.
    c5 = conversation(a, at("03-09 20:00:00"), first_response_at=at("03-09 20:05:00"))
    msg(c5, at("03-09 20:00:00"))
    msg(c5, at("03-09 20:05:00"), out=True, author=bob)
    resolve(c5, at("03-11 08:00:00"), by=bob)
    c5.tags.add(billing)

    # 23:00:00 UTC on the 9th is Berlin midnight: the first second of the period.
    c6 = conversation(
        a,
        at("03-09 23:00:00"),
        activity=at("03-10 12:00:00"),
        first_response_at=at("03-09 23:16:40"),
    )
    msg(c6, at("03-09 23:00:00"))
    msg(c6, at("03-09 23:16:40"), out=True, author=alice)
    # Resolved by alice, then reopened by bob: not resolved now, one reopen in the period.
    EventFactory(
        conversation=c6,
        kind=Event.Kind.STATUS_CHANGED,
        actor=alice,
        data={"from": "new", "to": "resolved"},
        created_at=at("03-10 11:00:00"),
    )
    EventFactory(
        conversation=c6,
        kind=Event.Kind.STATUS_CHANGED,
        actor=bob,
        data={"from": "resolved", "to": "new", "reopened": True},
        created_at=at("03-10 12:00:00"),
    )
    # A reopen at Berlin midnight after the last day: outside the period.
    EventFactory(
        conversation=c6,
        kind=Event.Kind.STATUS_CHANGED,
        actor=bob,
        data={"from": "resolved", "to": "new", "reopened": True},
        created_at=at("03-12 23:00:00"),
    )

    # The last second of the period; its reply lands one second after midnight... and later.
    c7 = conversation(
        a,
        at("03-12 22:59:59"),
        activity=at("03-12 23:00:29"),
        first_response_at=at("03-12 23:00:29"),
    )
    msg(c7, at("03-12 22:59:59"))
    msg(c7, at("03-12 23:00:29"), out=True, author=bob)

    c8 = conversation(a, at("03-12 23:00:00"))  # Berlin 13th: after the period
    msg(c8, at("03-12 23:00:00"))
    c9 = conversation(a, at("03-09 22:59:59"))  # Berlin 9th, 23:59:59: before the period
    msg(c9, at("03-09 22:59:59"))

    # Channel B: busy in the same days, with the same tag and topic.
    other = conversation(b, at("03-10 10:00:00"), first_response_at=at("03-10 10:00:10"))
    msg(other, at("03-10 10:00:00"))
    msg(other, at("03-10 10:00:10"), out=True, author=bart, outside=True)
    other.tags.add(billing)
    other.topics.add(orders)
    resolve(other, at("03-10 11:00:00"), by=bart)
    EventFactory(
        conversation=other,
        kind=Event.Kind.STATUS_CHANGED,
        actor=bart,
        data={"from": "resolved", "to": "new", "reopened": True},
        created_at=at("03-11 11:00:00"),
    )
    # Roll every message up into the tallies, as `manage.py rebuild_report_tallies` does (and
    # the factories bypass the services that set first_responder); test_reports_tallies.py
    # proves the figures are the same before, across and after a roll-up.
    tallies.rebuild()
    return SimpleNamespace(cast=cast, a=a, b=b, alice=alice, bob=bob, bart=bart)


def report_for(*channels, period=PERIOD):
    return build.build_report(channel_ids=[c.pk for c in channels], period=period, now=NOW)


def test_summary_counts_conversations_messages_and_templates(history):
    s = report_for(history.a).summary
    assert (s.opened, s.resolved, s.resolved_by_agents, s.resolved_automatically) == (6, 3, 2, 1)
    assert s.reopened == 1
    assert (s.messages_in, s.messages_out, s.outside_window) == (7, 6, 1)


def test_first_response_and_resolution_median_and_p90_interpolate_like_percentile_cont(history):
    s = report_for(history.a).summary
    # First responses 30, 60, 120, 300, 1000: p90 sits at 0.9 * 4 = 3.6 -> 300 + 0.6 * 700.
    assert s.first_response.count == 5
    assert s.first_response.median.seconds == pytest.approx(120)
    assert s.first_response.p90.seconds == pytest.approx(720)
    # Resolutions 7200, 124200, 129600: p90 at 1.8 -> 124200 + 0.8 * 5400.
    assert s.resolution.count == 3
    assert s.resolution.median.seconds == pytest.approx(124200)
    assert s.resolution.p90.seconds == pytest.approx(128520)


def test_days_are_berlin_days_at_both_boundaries(history):
    daily = report_for(history.a).daily
    assert [d.day for d in daily] == [date(2025, 3, 10), date(2025, 3, 11), date(2025, 3, 12)]
    # c3 opened 23:30 UTC on the 10th counts on the 11th; c6 (23:00:00 UTC on the 9th) on the
    # 10th; c7 (22:59:59 UTC on the 12th) on the 12th; c8 and c9 on no day of the period.
    assert [(d.opened, d.resolved, d.messages_in, d.messages_out) for d in daily] == [
        (3, 1, 4, 4),
        (2, 1, 2, 1),
        (1, 1, 1, 1),
    ]
    assert [d.first_response_median.seconds for d in daily] == [120, 300, 30]


def test_a_day_without_answers_has_no_median(history):
    period = figures.Period(first=date(2025, 3, 11), last=date(2025, 3, 11), tz=BERLIN)
    Conversation.objects.filter(first_response_at=at("03-10 23:35:00")).update(
        first_response_at=None
    )
    # The update bypassed the services: recount the conversations' roll-up as a rebuild does.
    conversation_tallies.rebuild(channel_ids=None, upto=tallies.watermark())
    day = report_for(history.a, period=period).daily[0]
    assert (day.opened, day.first_response_median.seconds) == (2, None)
    assert str(day.first_response_median) == "–"


def test_per_agent_replies_resolved_and_first_response(history):
    agents = {a.name: a for a in report_for(history.a).agents}
    assert set(agents) == {"Alice Agent", "bob"}
    alice, bob = agents["Alice Agent"], agents["bob"]
    assert (alice.replies, alice.outside_window, alice.resolved) == (4, 0, 1)
    assert (bob.replies, bob.outside_window, bob.resolved) == (2, 1, 1)
    # Alice answered c1, c3 and c6 first (60, 300, 1000); bob c2 and c7 (120, 30): an even
    # count interpolates halfway.
    assert (alice.first_responses, alice.first_response_median.seconds) == (3, 300)
    assert (bob.first_responses, bob.first_response_median.seconds) == (2, 75)
    # Sorted by replies, most first.
    assert [a.name for a in report_for(history.a).agents] == ["Alice Agent", "bob"]


def test_the_first_responder_is_the_author_of_the_earliest_outbound_message(history):
    c2 = Conversation.objects.get(first_response_at=at("03-10 09:02:00"))
    # A later reply by alice does not change who answered first.
    msg(c2, at("03-10 09:30:00"), out=True, author=history.alice)
    agents = {a.name: a for a in report_for(history.a).agents}
    assert agents["bob"].first_responses == 2
    assert agents["Alice Agent"].first_responses == 3


def test_a_failed_reply_is_no_first_response_for_the_rebuild_either(history):
    """Issue 13: a reply that failed never reached the customer. Rebuilt from the messages, the
    first response skips it: c2's reply by alice that failed a minute before bob's, c4's only
    (failed) reply, and c7's failed reply later sent again (counted from the retry)."""
    c2 = Conversation.objects.get(first_response_at=at("03-10 09:02:00"))
    c4 = Conversation.objects.get(opened_at=at("03-11 12:00:00"))
    c7 = Conversation.objects.get(first_response_at=at("03-12 23:00:29"))
    failed_replies = ((c2, "03-10 09:01:00", history.alice), (c4, "03-11 12:10:00", history.bob))
    for conv, when, author in failed_replies:
        MessageFactory(
            conversation=conv,
            direction=Message.Direction.OUTBOUND,
            author=author,
            created_at=at(when),
            delivery=Message.Delivery.FAILED,
            failure_code=131000,
        )
    # c7's reply at 23:00:29 had failed and was sent again 10 s later (no longer failed).
    Message.objects.filter(conversation=c7, direction="out").update(
        retried_at=at("03-12 23:00:39")
    )
    tallies.rebuild()

    s = report_for(history.a).summary
    # First responses 40 (c7, from the retry), 60, 120, 300, 1000: c2's failed reply and
    # c4's count for nothing.
    assert s.first_response.count == 5
    assert s.first_response.median.seconds == pytest.approx(120)
    assert s.first_response.p90.seconds == pytest.approx(720)
    agents = {a.name: a for a in report_for(history.a).agents}
    assert (agents["bob"].first_responses, agents["bob"].first_response_median.seconds) == (
        2,
        80,
    )
    assert agents["Alice Agent"].first_responses == 3
    assert Conversation.objects.get(pk=c4.pk).first_response_at is None


def test_tag_and_topic_breakdowns_cover_conversations_opened_in_the_period(history):
    report = report_for(history.a)
    tags = {t.name: t for t in report.tags}
    assert set(tags) == {"billing", "vip"}
    # billing: c1 (resolved) and c2; c5 opened before the period, channel B's never counts.
    assert (tags["billing"].opened, tags["billing"].resolved) == (2, 1)
    assert tags["billing"].first_response_median.seconds == pytest.approx(90)
    assert (tags["vip"].opened, tags["vip"].resolved, tags["vip"].first_response_median) == (
        1,
        0,
        figures.Duration(None),
    )
    [orders] = report.topics
    assert (orders.name, orders.opened, orders.resolved) == ("Orders", 2, 2)
    assert orders.first_response_median.seconds == pytest.approx(180)


def test_queue_sizes_and_oldest_waiting_age_are_current(history):
    queues = {q.status: q for q in report_for(history.a).queues}
    # New: c4, c6, c7, c8, c9 (oldest: c9, last activity 22:59:59 UTC on the 9th).
    assert queues["new"].size == 5
    assert queues["new"].oldest_age.seconds == 3 * 86400 + 13 * 3600 + 1
    assert queues["pending"].size == 1
    assert queues["pending"].oldest_age.seconds == 27 * 3600


def test_other_channels_add_up_only_when_asked_for(history):
    both = report_for(history.a, history.b).summary
    assert (both.opened, both.resolved, both.reopened, both.outside_window) == (7, 4, 2, 2)
    b = report_for(history.b)
    assert [a.name for a in b.agents] == ["Bart Other"]
    assert b.summary.first_response.median.seconds == pytest.approx(10)


def test_an_empty_period_reports_zeros_and_dashes(history):
    period = figures.Period(first=date(2024, 1, 1), last=date(2024, 1, 2), tz=BERLIN)
    report = report_for(history.a, period=period)
    s = report.summary
    assert (s.opened, s.resolved, s.reopened, s.messages_in, s.messages_out) == (0, 0, 0, 0, 0)
    assert s.first_response.median.seconds is None
    assert report.agents == report.tags == report.topics == []
    assert [d.opened for d in report.daily] == [0, 0]


def test_as_dict_is_plain_json_data(history):
    data = report_for(history.a).as_dict()
    assert data["summary"]["first_response"] == {"count": 5, "median": 120.0, "p90": 720.0}
    assert data["daily"][1]["day"] == "2025-03-11"
    assert data["queues"][1] == {"status": "pending", "size": 1, "oldest_age": 97200.0}


def test_duration_formatting():
    fmt = figures.format_duration
    assert [fmt(None), fmt(44.6), fmt(720), fmt(7500), fmt(129600)] == [
        "–",
        "45 s",
        "12 min",
        "2 h 05 min",
        "1 d 12 h",
    ]


def test_a_period_spans_whole_days_in_its_zone_across_a_dst_change():
    # Berlin moves to summer time on 2025-03-30: that day has 23 hours.
    period = figures.Period(first=date(2025, 3, 30), last=date(2025, 3, 30), tz=BERLIN)
    assert period.start == at("03-29 23:00:00")
    assert period.end == at("03-30 22:00:00")


# --- the percentile SQL itself ---------------------------------------------------------------


def reference_percentile(values: list[float], p: float) -> float | None:
    """percentile_cont's definition: linear interpolation between the closest ranks."""
    values = sorted(values)
    if not values:
        return None
    k = p * (len(values) - 1)
    lo = math.floor(k)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def run_percentiles(groups: dict[int, list[float | None]], vendor: str) -> dict[int, tuple]:
    selects = [
        f"SELECT {g} AS g, CAST(%s AS DOUBLE PRECISION) AS d"
        for g, values in groups.items()
        for _ in values
    ]
    params = [v for values in groups.values() for v in values]
    statement = sql.percentile_sql(
        " UNION ALL ".join(selects), groups=["g"], extras={"n": "COUNT(d)"}, vendor=vendor
    )
    rows = sql.fetch(statement, params)
    return {row["g"]: (row["n"], row["p50"], row["p90"]) for row in rows}


@pytest.mark.django_db
def test_window_function_percentiles_match_the_definition_for_many_sizes():
    rng = random.Random(7)
    groups = {
        n: [round(rng.uniform(0, 5000), 3) for _ in range(n)] + [None] * (n % 3)
        for n in range(1, 24)
    }
    groups[99] = [None, None]
    result = run_percentiles(groups, vendor="sqlite")
    for g, values in groups.items():
        present = [v for v in values if v is not None]
        n, p50, p90 = result[g]
        assert n == len(present)
        for got, p in ((p50, 0.5), (p90, 0.9)):
            want = reference_percentile(present, p)
            assert (got is None and want is None) or got == pytest.approx(want, abs=1e-9)


def test_window_function_percentiles_equal_percentile_cont_on_postgresql(on_postgres, db):
    rng = random.Random(11)
    groups = {
        n: [float(rng.randint(0, 10**6)) for _ in range(n)] + [None] * (n % 2)
        for n in itertools.chain(range(1, 30), (97, 250))
    }
    window = run_percentiles(groups, vendor="sqlite")
    native = run_percentiles(groups, vendor="postgresql")
    assert window.keys() == native.keys()
    for g in groups:
        assert window[g][0] == native[g][0]
        assert window[g][1] == pytest.approx(native[g][1], rel=1e-12)
        assert window[g][2] == pytest.approx(native[g][2], rel=1e-12)
