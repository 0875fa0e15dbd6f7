"""Enqueueing the conversations' Celery tasks by name, so the services never import the tasks.

The arrow runs one way: ``conversations.tasks`` imports the services (a task is a thin wrapper
around one service); the services, which must enqueue work after commit (send a reply, fetch a
customer's media, apply a stored webhook payload), name the task instead of importing it. The
registered task object is looked up at call time, so its ``EnqueueOrSweep`` base (a broker
outage never fails the caller) and a test's ``monkeypatch.setattr(task, "delay", ...)`` both
still apply.
"""

from __future__ import annotations

from functools import partial

from celery import current_app
from django.db import transaction

from conversations import announce_queue

DISPATCH_MESSAGE = "conversations.tasks.dispatch_message"
DOWNLOAD_MEDIA = "conversations.tasks.download_media"
APPLY_PAYLOAD = "conversations.tasks.apply_inbound_payload"
ANNOUNCE = "conversations.tasks.announce"  # one announcement (queued by an earlier release)
ANNOUNCE_BATCH = "conversations.tasks.announce_batch"
DRAIN_ANNOUNCEMENTS = "conversations.tasks.drain_announcements"


def enqueue(name: str, *args) -> None:
    """Publish the task ``name`` now (``delay``)."""
    current_app.tasks[name].delay(*args)


def enqueue_on_commit(name: str, *args) -> None:
    """Publish the task ``name`` when the current transaction commits (now if there is none)."""
    transaction.on_commit(partial(enqueue, name, *args))


def announce_in_worker(batch: list[tuple[str, dict]]) -> None:
    """Hand a request's announcements to the worker (signals.handed_to_worker) at once: with a
    Redis broker one entry on the announcement queue (conversations.announce_queue, the drain
    task published only when none is queued yet), otherwise one ``announce_batch`` task. Raises
    when the broker cannot take them, and the caller then sends them itself."""
    if announce_queue.enabled():
        announce_queue.push(batch, schedule_drain=schedule_drain)
        return
    current_app.tasks[ANNOUNCE_BATCH].apply_async((batch,), argsrepr="", kwargsrepr="")


def schedule_drain() -> bool:
    """Queue the task that drains the announcement queue; False when the broker refused it."""
    return current_app.tasks[DRAIN_ANNOUNCEMENTS].apply_async() is not None


def dispatch_message(message_id: int) -> None:
    enqueue_on_commit(DISPATCH_MESSAGE, message_id)


def download_media(message_id: int) -> None:
    enqueue_on_commit(DOWNLOAD_MEDIA, message_id)
