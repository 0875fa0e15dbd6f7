"""How a push travels from the process that made it (web, worker, beat) to the ASGI process.

With Redis (``CHANNEL_LAYERS`` is channels_redis' pub/sub layer): one ``PUBLISH`` on the
group's channel, made with the plain synchronous Redis client in the layer's own wire format
(``serialize`` of the layer and its group channel name), so the worker needs no event loop per
push. Every ASGI process subscribes once per group it has sockets in; idle sockets cost nothing.

Without Redis (``make run``: SQLite, the web server, the worker and beat are separate processes,
so an in-memory layer cannot carry a push between them): a row in ``BusEntry``; the ASGI process
reads the new rows once per ``REALTIME_BUS_POLL_S`` for all its sockets (one query per interval,
never one per agent) and hands them to its in-memory layer (``Relay``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import redis
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import timezone

from realtime.models import BusEntry

log = logging.getLogger(__name__)

# Rows older than this are gone: a socket that was away longer catches up by fetching its page.
BUS_KEEP = timedelta(minutes=2)
RELAY_BATCH = 500

_client_lock = threading.Lock()
_client: redis.Redis | None = None
_pending = threading.local()  # the pushes of an open ``batched()`` block of this thread


def uses_redis() -> bool:
    return settings.CHANNEL_LAYERS["default"]["BACKEND"].startswith("channels_redis")


def _redis_client() -> redis.Redis:
    global _client  # one connection pool per process
    with _client_lock:
        if _client is None:
            url = settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0]
            _client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        return _client


def group_channel(group: str) -> str:
    """The Redis channel of a group, as channels_redis.pubsub names it (tests/realtime check
    that a message published here reaches a consumer of the real layer)."""
    prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"].get("prefix", "asgi")
    return f"{prefix}__group__{group}"


def publish(group: str, message: dict) -> None:
    """Deliver ``message`` (a Channels event: ``type`` and JSON values) to ``group``'s sockets."""
    entries = getattr(_pending, "entries", None)
    if entries is not None:
        entries.append((group, message))
        return
    _send([(group, message)])


@contextmanager
def batched() -> Iterator[None]:
    """Publish the pushes made inside the block when it ends, in their order, at once: one
    INSERT on the database bus (one pipelined round trip to Redis) instead of one per push, so
    a receiver of a big announcement costs the same whatever the number of conversations."""
    if getattr(_pending, "entries", None) is not None:  # nested: the outer block sends
        yield
        return
    _pending.entries = []
    try:
        yield
    finally:
        entries, _pending.entries = _pending.entries, None
        if entries:
            _send(entries)


def _send(entries: list[tuple[str, dict]]) -> None:
    if uses_redis():
        layer = get_channel_layer()
        try:
            pipe = _redis_client().pipeline(transaction=False)
            for group, message in entries:
                pipe.publish(group_channel(group), layer.serialize(message))
            pipe.execute()
        except redis.RedisError:
            # The pages poll again while their socket is down; the write itself stands.
            log.warning(
                "live push to %s lost: Redis is unreachable",
                ", ".join(sorted({group for group, _ in entries})),
                exc_info=True,
            )
        return
    BusEntry.objects.bulk_create([BusEntry(group=g, message=m) for g, m in entries])


class Relay:
    """The ASGI process's reader of the database bus: one loop for every socket of the process,
    running while at least one socket is open."""

    def __init__(self) -> None:
        self.sockets = 0
        self.task: asyncio.Task | None = None

    def opened(self) -> None:
        self.sockets += 1
        if uses_redis():
            return
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())

    def closed(self) -> None:
        self.sockets = max(0, self.sockets - 1)

    async def _run(self) -> None:
        layer = get_channel_layer()
        last = await database_sync_to_async(_newest_id)()
        rounds = 0
        while self.sockets > 0:
            await asyncio.sleep(settings.REALTIME_BUS_POLL_S)
            try:
                rows = await database_sync_to_async(_after)(last)
                for pk, group, message in rows:
                    await layer.group_send(group, message)
                    last = pk
                rounds += 1
                if rounds % 120 == 0:
                    await database_sync_to_async(_prune)()
            except Exception:  # the loop must outlive a locked SQLite file or a lost row
                log.exception("live push relay: reading the database bus failed")


def _newest_id() -> int:
    return BusEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def _after(last: int) -> list[tuple[int, str, dict]]:
    return list(
        BusEntry.objects.filter(pk__gt=last)
        .order_by("pk")
        .values_list("pk", "group", "message")[:RELAY_BATCH]
    )


def _prune() -> None:
    BusEntry.objects.filter(created_at__lt=timezone.now() - BUS_KEEP).delete()


relay = Relay()
