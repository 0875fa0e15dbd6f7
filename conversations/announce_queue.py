"""The webhooks' announcements on their way to the worker: a Redis list, drained in batches.

A webhook request hands what it stored to the worker (``signals.handed_to_worker``). Publishing
a Celery task for it cost the web process ~0.5 ms of CPU per request (the task message built
and serialised by Celery and kombu, then a Redis round trip): a fifth of a request. With a Redis
broker (``ANNOUNCE_QUEUE_URL``, the broker's URL) a request instead makes one pipelined round
trip: ``RPUSH`` of one JSON entry (its announcements, kombu's JSON, so times survive) onto
``KEY``, and ``SET NX EX`` of ``FLAG``. Only when that set the flag (no drain queued yet) does it
also publish the Celery task ``conversations.tasks.drain_announcements``; under load that is one
publish per drain, not per request.

The drain (``drain``, in the worker) deletes the flag first, then pops up to ``BATCH`` entries
at a time and sends them merged (``signals.deliver_batch``): each receiver runs once per signal
and batch, not once per message. An entry pushed after the flag was deleted sets it again and
queues the next drain, so none waits for a drain that already passed. A drain stops after
``BUDGET_S`` and queues a fresh one for what is left.

Nothing is lost that the Celery task kept: the drain is at most once, as the task was (a worker
killed mid-batch loses the batch it popped; a receiver's work is not all idempotent). With Redis
unreachable the push raises and the request runs the receivers itself (``signals``). A drain task
the broker refused or lost leaves its entries until the flag expires (``FLAG_TTL_S``: the next
request queues one) or the beat runs the drain (``drain-announcements``, every
``ANNOUNCE_DRAIN_EVERY_S``). Without a Redis broker (``make run``'s filesystem broker) each
request publishes one ``announce_batch`` task instead (conversations.jobs).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import redis
from django.conf import settings
from kombu.utils import json

from conversations import signals

log = logging.getLogger(__name__)

BATCH = 200  # entries (requests) popped and delivered together
BUDGET_S = 30.0  # one drain task runs this long at most, then queues the next
FLAG_TTL_S = 30  # a drain flag without its task (refused, lost) holds no longer than this

_client_lock = threading.Lock()
_clients: dict[str, redis.Redis] = {}


def enabled() -> bool:
    return bool(settings.ANNOUNCE_QUEUE_URL)


def key() -> str:
    return f"{settings.REALTIME_PREFIX}:announcements"


def flag() -> str:
    return f"{settings.REALTIME_PREFIX}:announcements:drain-queued"


def _client() -> redis.Redis:
    url = settings.ANNOUNCE_QUEUE_URL
    with _client_lock:  # one connection pool per process and URL (redis-py is fork-safe)
        if url not in _clients:
            _clients[url] = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        return _clients[url]


def push(batch: signals.Batch, *, schedule_drain: Callable[[], bool]) -> None:
    """Queue one request's announcements; ``schedule_drain()`` publishes the drain task when no
    drain is queued (it returns False when the broker refused it). Raises when Redis does."""
    client = _client()
    # One round trip, no MULTI: the entry is in the list before the flag is looked at, and a
    # drain deletes the flag before it pops, so whatever runs in between, a drain gets the entry.
    with client.pipeline(transaction=False) as pipe:
        pipe.rpush(key(), json.dumps(batch))
        pipe.set(flag(), 1, nx=True, ex=FLAG_TTL_S)
        _length, flag_set = pipe.execute()
    if flag_set and not schedule_drain():
        # The entry waits in the list: the next request (or the beat's drain) queues a drain.
        client.delete(flag())


def drain(*, budget_s: float = BUDGET_S, schedule_drain: Callable[[], bool] | None = None) -> int:
    """Deliver what the queue holds, ``BATCH`` entries at a time; the number of entries. After
    ``budget_s`` the rest goes to a fresh task (``schedule_drain``)."""
    client = _client()
    client.delete(flag())  # from now on a new entry queues the next drain itself
    deadline = time.monotonic() + budget_s
    delivered = 0
    while True:
        entries = client.lpop(key(), BATCH)
        if not entries:
            return delivered
        batch = []
        for entry in entries:
            try:
                batch.extend(json.loads(entry))
            except ValueError:  # pragma: no cover - only this module writes the list
                log.error("announcement entry not readable, dropped: %r", entry[:200])
        signals.deliver_batch(batch)
        delivered += len(entries)
        if time.monotonic() >= deadline and schedule_drain is not None:
            if client.llen(key()):
                client.set(flag(), 1, ex=FLAG_TTL_S)
                if not schedule_drain():
                    client.delete(flag())
            return delivered
