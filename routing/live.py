"""What routing tells the open pages, through the live push (realtime.push), after commit.

- ``routing.availability`` to the agent's own pages: their top bar switch follows.
- ``routing.assigned`` to the agent routed a conversation: the page offers to open it.
- ``routing.monitor`` to the Supervisors of a channel whose queue or agents changed: the monitor
  fetches its figures again (they are read with the access checks of the monitor view, so the
  push itself carries only the channel id).
"""

from __future__ import annotations

import logging

from django.contrib.auth import get_user_model
from django.db import transaction

from channels_app.access import Cap, channels_where
from realtime import push

log = logging.getLogger(__name__)

AVAILABILITY = "routing.availability"
ASSIGNED = "routing.assigned"
MONITOR = "routing.monitor"


def _after_commit(send) -> None:
    def robust() -> None:
        try:
            send()
        except Exception:  # a push is fire-and-forget: never undo or fail the change
            log.exception("routing push failed")

    transaction.on_commit(robust)


def agent_channel_ids(user_id: int) -> list[int]:
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None:
        return []
    return list(channels_where(user, Cap.BE_ASSIGNED).values_list("pk", flat=True))


def agent_changed(user_id: int, availability: str) -> None:
    def send() -> None:
        push.push_to_user(user_id, AVAILABILITY, {"availability": availability})
        for channel_id in agent_channel_ids(user_id):
            push.push_to_supervisors(channel_id, MONITOR, {"channel_id": channel_id})

    _after_commit(send)


def routed(*, conversation_id: int, channel_id: int, user_id: int) -> None:
    def send() -> None:
        push.push_to_user(
            user_id,
            ASSIGNED,
            {"conversation_id": conversation_id, "url": f"/conversations/{conversation_id}/"},
        )
        push.push_to_supervisors(channel_id, MONITOR, {"channel_id": channel_id})

    _after_commit(send)


def monitor_changed(channel_ids) -> None:
    ids = sorted(set(channel_ids))
    if not ids:
        return

    def send() -> None:
        for channel_id in ids:
            push.push_to_supervisors(channel_id, MONITOR, {"channel_id": channel_id})

    _after_commit(send)
