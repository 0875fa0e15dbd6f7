"""Unassign on sign-out: an Offline agent's New conversations (not Pending) lose their assignee
2 minutes after they went Offline, each with an event, and go back to routing."""

from datetime import timedelta

import pytest

from conversations.models import Conversation, Event
from routing import presence, sweeps
from routing.models import Waiting
from tests.factories import ConversationFactory
from tests.routing.conftest import T0, available

pytestmark = pytest.mark.django_db


def test_new_conversations_are_unassigned_two_minutes_after_sign_out(cast, push, settings):
    settings.ROUTING_UNASSIGN_AFTER = timedelta(minutes=2)
    available(cast.contributor)
    new = ConversationFactory(channel=cast.channel, assignee=cast.contributor)
    pending = ConversationFactory(
        channel=cast.channel, assignee=cast.contributor, status=Conversation.Status.PENDING
    )
    presence.signed_out(cast.contributor, now=T0)

    sweeps.sweep(now=T0 + timedelta(minutes=1, seconds=59))
    new.refresh_from_db()
    assert new.assignee == cast.contributor

    sweeps.sweep(now=T0 + timedelta(minutes=2))
    new.refresh_from_db()
    pending.refresh_from_db()
    assert new.assignee is None
    assert pending.assignee == cast.contributor  # Pending keeps its assignee
    event = Event.objects.get(conversation=new, kind=Event.Kind.UNASSIGNED)
    assert event.actor is None
    assert event.data["from"]["id"] == cast.contributor.pk
    assert event.data.get("reason") == "signed_out"
    # Back to routing: queued, and the next Available agent gets it.
    assert Waiting.objects.filter(conversation=new).exists()
    available(cast.team_contributor, now=T0 + timedelta(minutes=2))
    sweeps.sweep(now=T0 + timedelta(minutes=2, seconds=5))
    new.refresh_from_db()
    assert new.assignee == cast.team_contributor


def test_closing_the_last_page_counts_as_going_offline(cast, push, settings):
    settings.ROUTING_OFFLINE_GRACE = timedelta(seconds=30)
    available(cast.contributor)
    conv = ConversationFactory(channel=cast.channel, assignee=cast.contributor)
    presence.page_closed(cast.contributor, now=T0)
    sweeps.sweep(now=T0 + timedelta(seconds=30))  # Offline now
    sweeps.sweep(now=T0 + timedelta(seconds=30) + timedelta(minutes=1, seconds=59))
    conv.refresh_from_db()
    assert conv.assignee == cast.contributor
    sweeps.sweep(now=T0 + timedelta(seconds=30) + timedelta(minutes=2))
    conv.refresh_from_db()
    assert conv.assignee is None


def test_coming_back_within_two_minutes_keeps_the_conversations(cast, push):
    available(cast.contributor)
    conv = ConversationFactory(channel=cast.channel, assignee=cast.contributor)
    presence.signed_out(cast.contributor, now=T0)
    presence.page_opened(cast.contributor, now=T0 + timedelta(minutes=1))
    presence.set_availability(cast.contributor, "available", now=T0 + timedelta(minutes=1))
    sweeps.sweep(now=T0 + timedelta(minutes=5))
    conv.refresh_from_db()
    assert conv.assignee == cast.contributor


def test_after_days_without_a_worker_one_sweep_unassigns_in_bounded_batches(cast, push):
    available(cast.contributor)
    convs = [ConversationFactory(channel=cast.channel, assignee=cast.contributor) for _ in range(7)]
    presence.signed_out(cast.contributor, now=T0)
    later = T0 + timedelta(days=5)
    sweeps.sweep(now=later, batch=5)
    assert Conversation.objects.filter(assignee=cast.contributor).count() == 2
    sweeps.sweep(now=later, batch=5)
    assert Conversation.objects.filter(assignee=cast.contributor).count() == 0
    assert len(convs) == 7
