"""Availability: Available, Away, Offline (docs/routing.md).

The live socket (app ``realtime``) calls ``page_opened``, ``page_closed`` and ``activity``; the
top bar's switch calls ``set_availability``; signing out calls ``signed_out`` (a
``user_logged_out`` receiver). Each is one short transaction on the agent's own row, so they
are synchronous: from async code call them through ``sync_to_async``.

- ``activity(user)``: the agent did something in an open page (typing, clicking, opening a
  page). Available until ``ROUTING_IDLE_AWAY_AFTER`` (10 minutes) passes without any; then
  Away, and the next activity makes them Available again. A heartbeat that carries no activity
  is ``seen(user)``: it keeps the page count alive and never resets the idle timer.
- ``page_closed(user)`` for the last open page: Offline ``ROUTING_OFFLINE_GRACE`` (30 s) later
  unless a page opens again (a reload or a link is not a sign-out).
- Offline by either path starts the sign-out unassignment timer (``ROUTING_UNASSIGN_AFTER``,
  2 minutes): the agent's New conversations lose their assignee then, unless they are back.

Every timer is a due-time column; ``routing.sweeps`` applies the due ones. ``now`` is a keyword
everywhere, so tests drive the clock.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from routing import live
from routing.models import AgentState, Availability

AVAILABLE, AWAY, OFFLINE = Availability.AVAILABLE, Availability.AWAY, Availability.OFFLINE
CHOOSABLE = (AVAILABLE, AWAY, OFFLINE)


def _locked(user_id: int) -> AgentState:
    """The agent's row under a row lock, created on first use."""
    AgentState.objects.get_or_create(user_id=user_id)
    return AgentState.objects.select_for_update().get(user_id=user_id)


def become(state: AgentState, availability: str, *, now: datetime, idle: bool = False) -> bool:
    """Set the effective availability and the timers it implies; True when it changed."""
    changed = state.availability != availability
    state.availability = availability
    state.idle = idle and availability == AWAY
    if changed:
        state.changed_at = now
    if availability == AVAILABLE:
        state.away_due_at = (state.last_activity_at or now) + settings.ROUTING_IDLE_AWAY_AFTER
        if state.away_due_at <= now:
            state.away_due_at = now + settings.ROUTING_IDLE_AWAY_AFTER
    else:
        state.away_due_at = None
    if availability == OFFLINE:
        state.offline_due_at = None
        if changed:
            state.unassign_due_at = now + settings.ROUTING_UNASSIGN_AFTER
    else:
        state.unassign_due_at = None
    return changed


def _save(state: AgentState, changed: bool) -> AgentState:
    state.save()
    if changed:
        live.agent_changed(state.user_id, state.availability)
    return state


@transaction.atomic
def set_availability(user, availability: str, *, now: datetime | None = None) -> AgentState:
    """The agent chose Available, Away or Offline in the top bar (ValueError for anything else)."""
    if availability not in CHOOSABLE:
        raise ValueError(availability)
    now = now or timezone.now()
    state = _locked(user.pk)
    state.chosen = availability
    state.last_activity_at = now
    return _save(state, become(state, availability, now=now))


@transaction.atomic
def page_opened(user, *, now: datetime | None = None) -> AgentState:
    """A page of the desk connected: counts as activity; an Offline agent comes back as what
    they chose last (Away after a sign-out)."""
    now = now or timezone.now()
    state = _locked(user.pk)
    state.open_pages += 1
    state.offline_due_at = None
    state.last_activity_at = now
    if state.availability == OFFLINE and state.chosen != OFFLINE:
        changed = become(state, state.chosen, now=now)
    else:
        changed = _wake_from_idle(state, now=now)
    return _save(state, changed)


@transaction.atomic
def page_closed(user, *, now: datetime | None = None) -> AgentState:
    """A page disconnected; after the last one the agent goes Offline once the grace passes."""
    now = now or timezone.now()
    state = _locked(user.pk)
    state.open_pages = max(0, state.open_pages - 1)
    if state.open_pages == 0 and state.availability != OFFLINE:
        state.offline_due_at = now + settings.ROUTING_OFFLINE_GRACE
    return _save(state, False)


def _wake_from_idle(state: AgentState, *, now: datetime) -> bool:
    if state.availability == AWAY and state.idle:
        return become(state, AVAILABLE, now=now)
    if state.availability == AVAILABLE:
        state.away_due_at = now + settings.ROUTING_IDLE_AWAY_AFTER
    return False


@transaction.atomic
def activity(user, *, now: datetime | None = None) -> AgentState:
    """The agent did something in an open page: restarts the idle timer; Away-because-idle
    becomes Available."""
    now = now or timezone.now()
    state = _locked(user.pk)
    state.last_activity_at = now
    changed = _wake_from_idle(state, now=now)
    return _save(state, changed)


def seen(user, *, now: datetime | None = None) -> None:
    """A heartbeat of an open page without activity: nothing to change today (the page count
    is kept by page_opened/page_closed); here so a socket can call it without guessing."""


@transaction.atomic
def signed_out(user, *, now: datetime | None = None) -> AgentState:
    """Signing out: Offline at once (the unassignment timer starts); the next sign-in starts
    Away until the agent chooses Available."""
    now = now or timezone.now()
    state = _locked(user.pk)
    state.open_pages = 0
    state.chosen = AWAY
    return _save(state, become(state, OFFLINE, now=now))


def availability_of(user) -> str:
    """The agent's availability now (Offline without a row)."""
    value = (
        AgentState.objects.filter(user_id=user.pk).values_list("availability", flat=True).first()
    )
    return value or OFFLINE
