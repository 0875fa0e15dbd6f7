"""The periodic job's work: apply every due timer, in bounded batches (docs/routing.md).

``sweep(now)`` runs every ``ROUTING_SWEEP_EVERY_S`` (5 s) from beat:

1. idle agents become Away (``away_due_at``), agents whose last page closed become Offline
   (``offline_due_at``), and the New conversations of agents Offline for
   ``ROUTING_UNASSIGN_AFTER`` lose their assignee (``unassign_due_at``), with an event each;
2. waiting conversations are routed (routing.engine).

Each timer is a due-time column with a partial index, read ``ORDER BY due LIMIT batch``: after
days without a worker, the first sweep applies every overdue one, a batch at a time.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import transaction

from conversations import services
from conversations.models import Conversation
from routing import engine, live, queue
from routing.models import AgentState, Availability
from routing.presence import become

Status = Conversation.Status


def _due(field: str, now: datetime, batch: int, **filters) -> list[int]:
    return list(
        AgentState.objects.filter(**{f"{field}__lte": now}, **filters)
        .order_by(field)
        .values_list("user_id", flat=True)[:batch]
    )


def _apply(user_id: int, field: str, now: datetime, change) -> bool:
    """Re-read the agent's row under a lock, re-check the timer, apply ``change``."""
    with transaction.atomic():
        state = (
            AgentState.objects.select_for_update(skip_locked=True)
            .filter(user_id=user_id, **{f"{field}__lte": now})
            .first()
        )
        if state is None:
            return False
        changed = change(state)
        state.save()
        if changed:
            live.agent_changed(state.user_id, state.availability)
        return True


def idle_agents(now: datetime, batch: int) -> int:
    done = 0
    for user_id in _due("away_due_at", now, batch, availability=Availability.AVAILABLE):
        done += _apply(
            user_id,
            "away_due_at",
            now,
            lambda s: (
                become(s, Availability.AWAY, now=now, idle=True)
                if s.availability == Availability.AVAILABLE
                else False
            ),
        )
    return done


def closed_agents(now: datetime, batch: int) -> int:
    def go_offline(state: AgentState) -> bool:
        if state.open_pages:
            state.offline_due_at = None
            return False
        return become(state, Availability.OFFLINE, now=now)

    due = _due("offline_due_at", now, batch)
    return sum(_apply(u, "offline_due_at", now, go_offline) for u in due)


def unassign_signed_out(now: datetime, batch: int) -> int:
    """Agents Offline for ROUTING_UNASSIGN_AFTER: their New conversations (not Pending, not
    snoozed) lose the assignee, each through services.unassign with its UNASSIGNED event, and
    go back to routing."""
    unassigned = 0
    for user_id in _due("unassign_due_at", now, batch, availability=Availability.OFFLINE):
        with transaction.atomic():
            state = (
                AgentState.objects.select_for_update(skip_locked=True)
                .filter(user_id=user_id, unassign_due_at__lte=now)
                .first()
            )
            if state is None:
                continue
            ids = list(
                Conversation.objects.filter(assignee_id=user_id, status=Status.NEW)
                .order_by("pk")
                .values_list("pk", flat=True)[: batch + 1]
            )
            for conversation in Conversation.objects.filter(pk__in=ids[:batch]).select_related(
                "channel"
            ):
                services.unassign(conversation, actor=None, now=now, reason="signed_out")
                unassigned += 1
            if state.availability != Availability.OFFLINE or len(ids) <= batch:
                state.unassign_due_at = None  # done (or back online: nothing to do)
                state.save(update_fields=["unassign_due_at"])
            queue.enqueue(ids[:batch], now=now)
    return unassigned


def sweep(*, now: datetime, batch: int | None = None) -> dict:
    batch = batch or settings.ROUTING_SWEEP_BATCH
    result = {
        "away": idle_agents(now, batch),
        "offline": closed_agents(now, batch),
        "unassigned": unassign_signed_out(now, batch),
    }
    result["routed"] = len(engine.route_waiting(now=now, limit=batch))
    return result
