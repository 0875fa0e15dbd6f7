"""Push routing: who gets a waiting conversation, capacity, skills and the fallback team."""

from datetime import timedelta

import pytest
from django.utils import timezone

from channels_app.access import Role
from conversations.models import Conversation, Event
from routing import engine, presence, queue, sweeps
from routing.models import AgentState, ChannelRouting, ContactLanguage, TeamRouting, Waiting
from tests.factories import (
    ContactFactory,
    ConversationFactory,
    GrantFactory,
    TeamFactory,
    TopicFactory,
    UserFactory,
)
from tests.routing.conftest import T0, available, waiting

pytestmark = pytest.mark.django_db


def route(now=T0):
    return engine.route_waiting(now=now)


def assignee(conv):
    conv.refresh_from_db()
    return conv.assignee


def test_a_waiting_conversation_goes_to_an_available_agent_with_an_event(cast, push):
    available(cast.contributor)
    (conv,) = waiting(cast.channel)
    assert route() == {conv.pk: cast.contributor.pk}
    assert assignee(conv) == cast.contributor
    event = Event.objects.get(conversation=conv, kind=Event.Kind.ASSIGNED)
    assert event.actor is None
    assert not Waiting.objects.exists()


def test_nothing_is_pushed_on_a_manual_or_assign_on_reply_channel(cast):
    ChannelRouting.objects.create(channel=cast.channel, push=False)
    available(cast.contributor)
    conv = ConversationFactory(channel=cast.channel)
    queue.enqueue([conv.pk], now=T0)
    assert route() == {}
    assert assignee(conv) is None


def test_viewers_are_never_routed_anything(cast, push):
    available(cast.viewer)
    convs = waiting(cast.channel, 3)
    assert route() == {}
    assert all(assignee(c) is None for c in convs)
    # Viewers on other channels, and users without access, neither.
    available(cast.outsider)
    assert route() == {}


def test_away_and_offline_agents_get_nothing(cast, push):
    presence.set_availability(cast.contributor, "away", now=T0)
    presence.set_availability(cast.team_contributor, "offline", now=T0)
    (conv,) = waiting(cast.channel)
    assert route() == {}
    assert assignee(conv) is None


def test_fewest_open_first_then_longest_since_last_assignment(cast, push):
    available(cast.contributor, cast.team_contributor)
    ConversationFactory(channel=cast.channel, status="pending", assignee=cast.contributor)
    a, b, c = waiting(cast.channel, 3)
    routed = route()
    # team_contributor had 0, contributor 1: the first goes to team_contributor; then both have
    # 1 and contributor waited longer since a routed conversation (never).
    assert routed[a.pk] == cast.team_contributor.pk
    assert routed[b.pk] == cast.contributor.pk
    assert routed[c.pk] == cast.team_contributor.pk


def test_never_beyond_capacity_and_the_rest_waits_in_new(cast, push):
    AgentState.objects.create(user=cast.contributor, capacity=2)
    available(cast.contributor)
    convs = waiting(cast.channel, 4)
    assert len(route()) == 2
    assert Conversation.objects.filter(assignee=cast.contributor).count() == 2
    assert Waiting.objects.count() == 2
    assert all(c.status == "new" for c in Conversation.objects.all())
    # Capacity frees up (one resolved): the next one goes out on the next pass.
    Conversation.objects.filter(pk=convs[0].pk).update(status="resolved", assignee=None)
    assert len(route()) == 1
    assert Conversation.objects.filter(assignee=cast.contributor, status="new").count() == 2


def test_the_default_capacity_is_five(cast, push):
    available(cast.contributor)
    waiting(cast.channel, 7)
    assert len(route()) == 5


def test_a_channels_capacity_overrides_the_agents_and_a_teams_overrides_its_members(cast, push):
    available(cast.contributor, cast.team_contributor)
    TeamRouting.objects.create(team=cast.team, capacity=1)
    waiting(cast.channel, 6)
    route()
    assert Conversation.objects.filter(assignee=cast.team_contributor).count() == 1
    assert Conversation.objects.filter(assignee=cast.contributor).count() == 5
    push.capacity = 2
    push.save()
    Conversation.objects.update(assignee=None)
    queue.discover(now=T0)
    route()
    assert Conversation.objects.filter(assignee=cast.team_contributor).count() == 2
    assert Conversation.objects.filter(assignee=cast.contributor).count() == 2


def test_an_agent_coming_online_gets_at_most_their_capacity(cast, push):
    AgentState.objects.create(user=cast.contributor, capacity=3)
    waiting(cast.channel, 20)
    assert route() == {}
    available(cast.contributor)
    sweeps.sweep(now=T0)
    assert Conversation.objects.filter(assignee=cast.contributor).count() == 3
    assert Waiting.objects.count() == 17


def test_the_oldest_waiting_goes_first(cast, push):
    AgentState.objects.create(user=cast.contributor, capacity=1)
    available(cast.contributor)
    old, _new = waiting(cast.channel, 2)
    assert route() == {old.pk: cast.contributor.pk}


# --- skills ------------------------------------------------------------------------------------


def test_an_agent_with_every_required_skill_is_preferred(cast, push):
    billing = TopicFactory(name="Billing")
    available(cast.contributor, cast.team_contributor)
    AgentState.objects.get(user=cast.team_contributor).topics.add(billing)
    (conv,) = waiting(cast.channel)
    conv.topics.add(billing)
    assert route() == {conv.pk: cast.team_contributor.pk}


def test_the_customers_language_is_a_required_skill(cast, push):
    available(cast.contributor, cast.team_contributor)
    AgentState.objects.filter(user=cast.contributor).update(languages="de, en")
    AgentState.objects.filter(user=cast.team_contributor).update(languages="en")
    contact = ContactFactory()
    ContactLanguage.objects.create(contact=contact, language="de-AT")
    (conv,) = waiting(cast.channel, contact=contact)
    assert route() == {conv.pk: cast.contributor.pk}


def test_without_a_skilled_agent_it_waits_then_goes_to_the_fallback_team(cast, push):
    billing = TopicFactory(name="Billing")
    fallback_member = UserFactory(username="fred_fallback")
    fallback = TeamFactory(name="Fallback", members=[fallback_member])
    GrantFactory(channel=cast.channel, user=None, team=fallback, role=Role.CONTRIBUTOR)
    push.fallback_team = fallback
    push.fallback_after = timedelta(minutes=5)
    push.save()
    available(cast.contributor, fallback_member)
    conv = ConversationFactory(channel=cast.channel)
    conv.topics.add(billing)
    queue.enqueue([conv.pk], now=T0)
    assert route(T0 + timedelta(minutes=4, seconds=59)) == {}
    assert assignee(conv) is None
    # The wait is over: the fallback team's member, not the unskilled contributor.
    assert route(T0 + timedelta(minutes=5)) == {conv.pk: fallback_member.pk}


def test_without_a_fallback_team_any_agent_takes_it_after_the_wait(cast, push):
    billing = TopicFactory(name="Billing")
    available(cast.contributor)
    conv = ConversationFactory(channel=cast.channel)
    conv.topics.add(billing)
    queue.enqueue([conv.pk], now=T0)
    assert route(T0 + timedelta(minutes=1)) == {}
    assert route(T0 + timedelta(minutes=5)) == {conv.pk: cast.contributor.pk}


# --- the queue --------------------------------------------------------------------------------


def test_discover_queues_what_the_announcements_missed_and_drops_what_stopped_waiting(cast, push):
    available(cast.contributor)
    missed = ConversationFactory(channel=cast.channel)
    assigned = ConversationFactory(channel=cast.channel, assignee=cast.team_contributor)
    Waiting.objects.create(conversation=assigned, channel=cast.channel, queued_at=T0)
    assert queue.discover(now=T0) == 1
    assert set(Waiting.objects.values_list("conversation_id", flat=True)) == {missed.pk}
    assert route() == {missed.pk: cast.contributor.pk}


def test_an_announced_new_conversation_is_queued_and_routed(
    cast, push, django_capture_on_commit_callbacks, monkeypatch
):
    from conversations import signals
    from routing import tasks

    runs = []
    monkeypatch.setattr(tasks.route, "delay", lambda *a, **k: runs.append(a))
    available(cast.contributor)
    conv = ConversationFactory(channel=cast.channel)
    with django_capture_on_commit_callbacks(execute=True):
        signals.announce(
            signals.message_received, message_ids=[], created_conversation_ids=[conv.pk],
            reopened_conversation_ids=[],
        )  # fmt: skip
    assert Waiting.objects.filter(conversation=conv).exists()
    assert runs  # a routing run was queued at once (the sweep covers a lost one)
    tasks.route()  # what the worker does with it
    assert assignee(conv) == cast.contributor


def test_capacity_freed_by_a_resolve_sends_the_next_one_out(
    cast, push, django_capture_on_commit_callbacks, monkeypatch
):
    from conversations import services
    from routing import tasks

    runs = []
    monkeypatch.setattr(tasks.route, "delay", lambda *a, **k: runs.append(a))
    AgentState.objects.create(user=cast.contributor, capacity=1)
    available(cast.contributor)
    first, second = waiting(cast.channel, 2)
    route()
    assert assignee(first) == cast.contributor and assignee(second) is None
    with django_capture_on_commit_callbacks(execute=True):
        services.move_conversation(first, to="resolved", actor=cast.contributor)
    # The resolve announced conversation_changed; whether or not its writer announces yet, the
    # next pass (the task it queued, or the 5-s sweep) gives the freed capacity away.
    sweeps.sweep(now=timezone.now())
    assert assignee(second) == cast.contributor


def test_an_assignment_by_hand_takes_the_conversation_out_of_the_queue(
    cast, push, django_capture_on_commit_callbacks
):
    from conversations import signals

    (conv,) = waiting(cast.channel)
    Conversation.objects.filter(pk=conv.pk).update(assignee=cast.team_contributor)
    with django_capture_on_commit_callbacks(execute=True):
        signals.announce(
            signals.conversation_changed, conversation_ids=[conv.pk], change="assigned",
            actor_id=cast.supervisor.pk,
        )  # fmt: skip
    assert not Waiting.objects.filter(conversation=conv).exists()
