"""Availability: the agent's choice, idle → Away, last page closed → Offline, sign-out
(a controllable clock: every function takes ``now``)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from routing import presence, sweeps
from routing.models import AgentState, Availability

pytestmark = pytest.mark.django_db
T0 = timezone.now().replace(microsecond=0)


def state(user) -> AgentState:
    return AgentState.objects.get(user=user)


def test_an_agent_without_a_row_is_offline(cast):
    assert presence.availability_of(cast.contributor) == Availability.OFFLINE


def test_the_agent_sets_available_away_offline(cast):
    for value in (Availability.AVAILABLE, Availability.AWAY, Availability.OFFLINE):
        presence.set_availability(cast.contributor, value, now=T0)
        assert presence.availability_of(cast.contributor) == value
    with pytest.raises(ValueError):
        presence.set_availability(cast.contributor, "busy", now=T0)


def test_idle_for_the_configured_time_makes_an_available_agent_away(cast, settings):
    settings.ROUTING_IDLE_AWAY_AFTER = timedelta(minutes=10)
    presence.page_opened(cast.contributor, now=T0)
    presence.set_availability(cast.contributor, Availability.AVAILABLE, now=T0)
    presence.activity(cast.contributor, now=T0 + timedelta(minutes=4))
    sweeps.sweep(now=T0 + timedelta(minutes=13, seconds=59))
    assert state(cast.contributor).availability == Availability.AVAILABLE
    sweeps.sweep(now=T0 + timedelta(minutes=14))
    assert state(cast.contributor).availability == Availability.AWAY
    assert state(cast.contributor).idle
    # Their next activity brings them back.
    presence.activity(cast.contributor, now=T0 + timedelta(minutes=20))
    assert state(cast.contributor).availability == Availability.AVAILABLE


def test_a_chosen_away_stays_away_on_activity(cast):
    presence.page_opened(cast.contributor, now=T0)
    presence.set_availability(cast.contributor, Availability.AWAY, now=T0)
    presence.activity(cast.contributor, now=T0 + timedelta(minutes=1))
    assert state(cast.contributor).availability == Availability.AWAY


def test_the_idle_time_is_configurable(cast, settings):
    settings.ROUTING_IDLE_AWAY_AFTER = timedelta(minutes=2)
    presence.page_opened(cast.contributor, now=T0)
    presence.set_availability(cast.contributor, Availability.AVAILABLE, now=T0)
    sweeps.sweep(now=T0 + timedelta(minutes=2))
    assert state(cast.contributor).availability == Availability.AWAY


def test_closing_the_last_page_makes_the_agent_offline_after_the_grace(cast, settings):
    settings.ROUTING_OFFLINE_GRACE = timedelta(seconds=30)
    presence.page_opened(cast.contributor, now=T0)
    presence.page_opened(cast.contributor, now=T0)
    presence.set_availability(cast.contributor, Availability.AVAILABLE, now=T0)
    presence.page_closed(cast.contributor, now=T0 + timedelta(seconds=1))
    sweeps.sweep(now=T0 + timedelta(minutes=5))
    assert state(cast.contributor).availability == Availability.AVAILABLE  # one page still open
    presence.page_closed(cast.contributor, now=T0 + timedelta(minutes=5))
    sweeps.sweep(now=T0 + timedelta(minutes=5, seconds=29))
    assert state(cast.contributor).availability == Availability.AVAILABLE
    sweeps.sweep(now=T0 + timedelta(minutes=5, seconds=30))
    assert state(cast.contributor).availability == Availability.OFFLINE
    # A page opening again restores what they chose.
    presence.page_opened(cast.contributor, now=T0 + timedelta(minutes=9))
    assert state(cast.contributor).availability == Availability.AVAILABLE


def test_a_reload_within_the_grace_keeps_the_agent_online(cast):
    presence.page_opened(cast.contributor, now=T0)
    presence.set_availability(cast.contributor, Availability.AVAILABLE, now=T0)
    presence.page_closed(cast.contributor, now=T0 + timedelta(seconds=1))
    presence.page_opened(cast.contributor, now=T0 + timedelta(seconds=2))
    sweeps.sweep(now=T0 + timedelta(minutes=1))
    assert state(cast.contributor).availability == Availability.AVAILABLE


def test_signing_out_makes_the_agent_offline_and_the_next_sign_in_starts_away(cast, client):
    client.force_login(cast.contributor)
    presence.set_availability(cast.contributor, Availability.AVAILABLE, now=T0)
    client.post("/logout/")
    assert state(cast.contributor).availability == Availability.OFFLINE
    presence.page_opened(cast.contributor)
    assert state(cast.contributor).availability == Availability.AWAY
