"""Routing fixtures: a push channel of the standard cast, agents made Available."""

from datetime import timedelta

import pytest
from django.utils import timezone

from routing import presence, queue
from routing.models import ChannelRouting
from tests.factories import ConversationFactory

T0 = timezone.now().replace(microsecond=0)


@pytest.fixture
def push(cast):
    """cast.channel in push mode (capacity: each agent's own)."""
    return ChannelRouting.objects.create(channel=cast.channel, push=True)


def available(*users, now=T0):
    for user in users:
        presence.page_opened(user, now=now)
        presence.set_availability(user, "available", now=now)


def waiting(channel, n=1, *, now=T0, **kwargs):
    """``n`` New, unassigned conversations on ``channel``, queued for routing, oldest first."""
    convs = []
    for i in range(n):
        at = now - timedelta(minutes=n - i)
        conv = ConversationFactory(channel=channel, opened_at=at, last_activity_at=at, **kwargs)
        queue.enqueue([conv.pk], now=at)
        convs.append(conv)
    return convs
