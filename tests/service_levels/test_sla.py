"""SLA clocks with a controllable clock: warning at 80 % and breach at 100 % (recorded as events
and pushed by the sweep), the pause in Pending, business-hours counting, tag policies, the
desk's reply meeting a target, the window's last hour, and a 5-day outage caught up in one pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from conversations.models import Conversation, Event
from realtime import audience
from realtime.models import BusEntry
from service_levels import sla, sweep
from service_levels.models import SlaTarget
from tests.factories import ChannelFactory, ConversationFactory, TagFactory, UserFactory
from tests.service_levels.conftest import (
    WEEKDAYS_9_TO_5,
    ServiceSettingsFactory,
    SlaPolicyFactory,
    hours_of,
    local,
    utc,
)

T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)  # a Monday
MIN = timedelta(minutes=1)
Kind = SlaTarget.Kind


@pytest.fixture(autouse=True)
def _database_bus(settings):
    # Pushes go through the database bus (no Redis layer), so the tests read them as rows.
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def opened(channel, at=T0, **kwargs) -> Conversation:
    conv = ConversationFactory(
        channel=channel, opened_at=at, last_customer_message_at=at, last_activity_at=at, **kwargs
    )
    sla.on_customer_messages({conv.pk: at}, opened=[conv.pk], now=at)
    return conv


def move(conv, status, at):
    conv.status = status
    if status == "resolved":
        conv.assignee = None
        conv.resolved_at = at
    conv.save()
    sla.on_status_changed([conv.pk], now=at)


def events(conv, *kinds):
    return list(
        Event.objects.filter(conversation=conv, kind__in=kinds)
        .order_by("created_at", "id")
        .values_list("kind", "created_at", "data__target")
    )


def target(conv, kind=Kind.FIRST_RESPONSE) -> SlaTarget:
    return SlaTarget.objects.filter(conversation=conv, kind=kind).latest("id")


def run(now, capture):
    with capture(execute=True):
        return sweep.sweep(now=now)


def pushes(group):
    return [e.message for e in BusEntry.objects.filter(group=group).order_by("id")]


@pytest.fixture
def calendar(db):
    channel = ChannelFactory()
    SlaPolicyFactory(
        channel=channel,
        first_response=10 * MIN,
        next_response=20 * MIN,
        resolution=timedelta(hours=4),
        business_hours=False,
    )
    return channel


def test_warning_at_80_percent_and_breach_at_100_recorded_and_pushed(
    calendar, django_capture_on_commit_callbacks
):
    agent = UserFactory()
    conv = opened(calendar, assignee=agent)
    first = target(conv)
    assert (first.warn_at, first.due_at) == (T0 + 8 * MIN, T0 + 10 * MIN)

    run(T0 + 8 * MIN - timedelta(seconds=1), django_capture_on_commit_callbacks)
    assert events(conv, sweep.EVENT_WARNING, sweep.EVENT_BREACHED) == []
    run(T0 + 8 * MIN, django_capture_on_commit_callbacks)
    assert events(conv, sweep.EVENT_WARNING) == [
        (sweep.EVENT_WARNING, T0 + 8 * MIN, "first_response")
    ]
    # A beat every 15 s: the breach is recorded at the first run after the due time.
    run(T0 + 10 * MIN + timedelta(seconds=14), django_capture_on_commit_callbacks)
    breach = events(conv, sweep.EVENT_BREACHED)
    assert breach == [
        (sweep.EVENT_BREACHED, T0 + 10 * MIN + timedelta(seconds=14), "first_response")
    ]
    first.refresh_from_db()
    assert first.breached_at == T0 + 10 * MIN
    assert first.agent == agent
    assert first.alert_at is None
    run(T0 + 11 * MIN, django_capture_on_commit_callbacks)  # nothing twice
    assert len(events(conv, sweep.EVENT_WARNING, sweep.EVENT_BREACHED)) == 2

    kinds = [m["kind"] for m in pushes(audience.user_group(agent.pk))]
    assert kinds == ["sla.alert", "sla.alert"]
    supervisors = pushes(audience.supervisors_group(calendar.pk))
    assert [m["data"]["kind"] for m in supervisors] == ["sla_warning", "sla_breached"]
    assert supervisors[1]["data"]["conversation_id"] == conv.pk
    # The line each language's screens show (realtime merges it into data as "text").
    texts = supervisors[1]["by_language"]
    assert texts["en"]["text"] == f"SLA target missed on #{conv.pk}: First response"
    assert texts["de"]["text"] == f"SLA-Ziel verfehlt zu #{conv.pk}: Erste Antwort"


def test_the_desks_reply_meets_the_target_and_the_system_never_does(calendar):
    conv = opened(calendar)
    agent = UserFactory()
    sla.on_desk_replies({conv.pk: (T0 + 5 * MIN, agent.pk)})
    first = target(conv)
    assert (first.state, first.met_at, first.agent, first.alert_at) == (
        "met",
        T0 + 5 * MIN,
        agent,
        None,
    )
    assert first.breached_at is None
    # The customer writes again: a next-response clock from that message.
    sla.on_customer_messages({conv.pk: T0 + 30 * MIN}, now=T0 + 30 * MIN)
    nxt = target(conv, Kind.NEXT_RESPONSE)
    assert (nxt.started_at, nxt.due_at) == (T0 + 30 * MIN, T0 + 50 * MIN)
    # A second customer message does not restart it.
    sla.on_customer_messages({conv.pk: T0 + 35 * MIN}, now=T0 + 35 * MIN)
    assert SlaTarget.objects.filter(conversation=conv, kind=Kind.NEXT_RESPONSE).count() == 1
    assert target(conv, Kind.NEXT_RESPONSE).due_at == T0 + 50 * MIN


def test_a_reply_after_the_breach_keeps_the_breach(calendar, django_capture_on_commit_callbacks):
    conv = opened(calendar)
    run(T0 + 12 * MIN, django_capture_on_commit_callbacks)
    sla.on_desk_replies({conv.pk: (T0 + 13 * MIN, None)})
    first = target(conv)
    assert (first.state, first.breached_at, first.settled_at) == (
        "met",
        T0 + 10 * MIN,
        T0 + 10 * MIN,
    )


def test_the_clock_pauses_while_pending(calendar, django_capture_on_commit_callbacks):
    conv = opened(calendar)
    move(conv, "pending", T0 + 5 * MIN)
    first = target(conv)
    assert (first.state, first.remaining_s, first.alert_at) == ("paused", 300.0, None)
    run(T0 + 60 * MIN, django_capture_on_commit_callbacks)  # an hour in Pending: nothing due
    assert events(conv, sweep.EVENT_WARNING, sweep.EVENT_BREACHED) == []
    move(conv, "new", T0 + 65 * MIN)  # 5 minutes left from here
    first.refresh_from_db()
    assert (first.warn_at, first.due_at) == (T0 + 68 * MIN, T0 + 70 * MIN)
    run(T0 + 69 * MIN, django_capture_on_commit_callbacks)
    assert [e[0] for e in events(conv, sweep.EVENT_WARNING, sweep.EVENT_BREACHED)] == [
        sweep.EVENT_WARNING
    ]
    run(T0 + 70 * MIN, django_capture_on_commit_callbacks)
    assert events(conv, sweep.EVENT_BREACHED)[0][1] == T0 + 70 * MIN


def test_snoozed_pauses_like_pending(calendar):
    conv = opened(calendar)
    move(conv, "snoozed", T0 + 2 * MIN)
    assert target(conv).state == "paused"


def test_business_hours_counting_across_a_weekend_and_a_dst_change(db):
    channel = hours_of(ServiceSettingsFactory(time_zone="Europe/Berlin"), WEEKDAYS_9_TO_5).channel
    SlaPolicyFactory(channel=channel, first_response=timedelta(hours=1), business_hours=True)
    friday = local("Europe/Berlin", "2026-03-27 16:30")  # 30 minutes before closing
    conv = opened(channel, at=friday)
    first = target(conv)
    # 30 minutes on Friday, 30 on Monday morning (CEST since Sunday): 09:30 local = 07:30 UTC.
    assert first.due_at == utc("2026-03-30 07:30")
    assert first.warn_at == utc("2026-03-30 07:18")  # 48 business minutes
    # A message written on Saturday starts counting on Monday at 09:00.
    late = opened(channel, at=local("Europe/Berlin", "2026-03-28 11:00"))
    assert target(late).due_at == local("Europe/Berlin", "2026-03-30 10:00")


def test_a_tag_policy_wins_and_a_new_tag_changes_a_running_clock(calendar):
    vip = TagFactory(name="vip")
    SlaPolicyFactory(channel=calendar, tag=vip, first_response=15 * MIN, business_hours=False)
    conv = opened(calendar)
    assert target(conv).due_at == T0 + 10 * MIN  # the channel's policy
    SlaPolicyFactory(
        channel=calendar, tag=TagFactory(name="slow"), first_response=60 * MIN, business_hours=False
    )
    conv.tags.add(vip)
    sla.on_tags_changed([conv.pk], now=T0 + 4 * MIN)
    first = target(conv)
    assert (first.target_s, first.due_at) == (900.0, T0 + 15 * MIN)  # 4 used, 11 left
    tagged = ConversationFactory(channel=calendar, opened_at=T0, last_activity_at=T0)
    tagged.tags.add(vip)
    sla.on_customer_messages({tagged.pk: T0}, opened=[tagged.pk], now=T0)
    assert target(tagged).due_at == T0 + 15 * MIN


def test_resolving_meets_the_resolution_clock_and_closes_the_response_clock(calendar):
    conv = opened(calendar)
    move(conv, "resolved", T0 + 3 * MIN)
    assert target(conv, Kind.RESOLUTION).state == "met"
    assert target(conv, Kind.FIRST_RESPONSE).state == "closed"
    assert not SlaTarget.objects.filter(conversation=conv, alert_at__isnull=False).exists()


def test_the_window_alerts_an_hour_before_it_closes(calendar, django_capture_on_commit_callbacks):
    conv = opened(calendar)  # unassigned: the Supervisors are told
    sla.on_desk_replies({conv.pk: (T0 + MIN, UserFactory().pk)})
    later = T0 + 2 * MIN
    conv.last_customer_message_at = later
    conv.save()
    sla.on_customer_messages({conv.pk: later}, now=later)
    window = target(conv, Kind.WINDOW)
    assert (window.warn_at, window.due_at) == (
        later + timedelta(hours=23),
        later + timedelta(hours=24),
    )
    run(later + timedelta(hours=23), django_capture_on_commit_callbacks)
    assert [e[0] for e in events(conv, sweep.EVENT_WINDOW)] == [sweep.EVENT_WINDOW]
    data = pushes(audience.supervisors_group(calendar.pk))
    assert any(m["data"]["kind"] == sweep.EVENT_WINDOW for m in data)
    info = sla.next_due([conv.pk])[conv.pk]
    assert info["window_alert"] and info["window_closes_at"] == later + timedelta(hours=24)
    # The desk answers: the window clock is met and alerts no more.
    sla.on_desk_replies({conv.pk: (later + timedelta(hours=23, minutes=5), None)})
    run(later + timedelta(hours=25), django_capture_on_commit_callbacks)
    assert len(events(conv, sweep.EVENT_WINDOW)) == 1


def test_a_five_day_outage_is_caught_up_in_one_bounded_pass(
    calendar, django_capture_on_commit_callbacks
):
    convs = [opened(calendar, at=T0 + i * timedelta(seconds=1)) for i in range(30)]
    summary = None
    with django_capture_on_commit_callbacks(execute=True):
        summary = sweep.sweep(now=T0 + timedelta(days=5), batch_size=7)
    # Every clock breached once (first response and resolution), no warning written after the
    # fact; the 30 windows closed silently: 90 clocks in ceil(90 / 7) batches.
    assert summary.counts == {sweep.EVENT_BREACHED: 60}
    assert summary.batches == 13
    for conv in convs:
        assert sorted(e[2] for e in events(conv, sweep.EVENT_BREACHED)) == [
            "first_response",
            "resolution",
        ]
    assert not SlaTarget.objects.filter(alert_at__lte=T0 + timedelta(days=5)).exists()
    # One summary push to the Supervisors per batch above the per-alert limit? Batches of 7 stay
    # below it: each alert pushed.
    assert len(pushes(audience.supervisors_group(calendar.pk))) == 60


def test_next_due_shows_the_earliest_running_target(calendar):
    conv = opened(calendar)
    info = sla.next_due([conv.pk])[conv.pk]
    assert (info["due_at"], info["kind"], info["breached"]) == (
        T0 + 10 * MIN,
        "first_response",
        False,
    )
