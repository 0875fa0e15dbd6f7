"""Celery tasks: thin wrappers around routing.sweeps and routing.engine."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from conversations.tasks import EnqueueOrSweep
from routing import engine, queue, sweeps, timers


@shared_task(name="routing.tasks.sweep")
def sweep() -> dict:
    """Presence timers, sign-out unassignment, then routing (beat, every 5 s); idempotent."""
    return sweeps.sweep(now=timezone.now())


@shared_task(base=EnqueueOrSweep, name="routing.tasks.route")
def route(channel_ids: list[int] | None = None) -> int:
    """Route waiting conversations now (queued when a conversation starts waiting or capacity
    frees up); a lost one is covered by the sweep five seconds later."""
    return len(
        engine.route_waiting(
            now=timezone.now(), limit=settings.ROUTING_SWEEP_BATCH, channel_ids=channel_ids
        )
    )


@shared_task(name="routing.tasks.discover")
def discover() -> int:
    """Queue waiting conversations the announcements missed (beat, every minute)."""
    return queue.discover(now=timezone.now())


@shared_task(name="routing.tasks.wake")
def wake() -> dict:
    """Wake snoozed conversations whose time came and boomerang stale Pending ones (beat, every
    15 s); bounded batches, idempotent (SKIP LOCKED, each row re-checked by its UPDATE)."""
    return timers.wake(now=timezone.now()).as_dict()
