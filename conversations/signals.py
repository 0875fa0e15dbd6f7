"""What the conversations' writers announce, after their transaction commits.

Every writer of conversation state (the services: inbound through the ORM and through the one
SQL statement, outbound, lifecycle, auto-resolve, status webhooks, edits and revocations) sends
these signals from ``transaction.on_commit``, so a receiver only ever sees committed rows. The
arguments are plain ids and strings (cheap for the batch paths; a receiver loads what it needs).
Receivers are other apps (live push, routing, service levels, automations, outgoing webhooks):
they connect in their ``AppConfig.ready`` and must be quick (publish or enqueue, no slow I/O).
Senders use ``send_robust``: a failing receiver is logged and never undoes or blocks a write.

Every signal carries lists of ids, so a batch writer (the inbound statement, an auto-resolve
batch) announces a whole batch once; a single change sends lists of one.

``message_received``      customers' messages were stored.
    kwargs: message_ids, created_conversation_ids (conversations these messages opened),
            reopened_conversation_ids (open conversations they moved back to New: Pending ->
            New by conversations/rules.py's ON_INBOUND; a Resolved one is never reopened by a
            message, a new conversation opens and is named in created_conversation_ids)
``message_sent``          the desk stored outbound messages (reply, template, system).
    kwargs: message_ids, author_id (None for the system)
``message_changed``       messages' delivery state, text (edit), media or revocation changed.
    kwargs: message_ids, change ("delivery" | "edited" | "revoked" | "media")
``conversation_changed``  conversations' state changed: status, assignee, tags, topics, notes.
    kwargs: conversation_ids, change (the Event kind written, e.g. "status", "assigned"),
            actor_id (None for the system), and at (when, from a batch writer that knows it
            for the whole batch: auto-resolve; absent otherwise)
``marketing_preference``  WhatsApp reported a customer's marketing choice (user_preferences).
    kwargs: channel_id, wa_id, value ("stop" | "resume"), detail, at (Meta's time)
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Callable, Iterator
from functools import partial

from django.db import transaction
from django.dispatch import Signal

log = logging.getLogger(__name__)

message_received = Signal()
message_sent = Signal()
message_changed = Signal()
conversation_changed = Signal()
marketing_preference = Signal()


# The announcements of the enclosing ``coalesced()`` block, if any: (signal, kwargs, marker).
_collecting: contextvars.ContextVar[list | None] = contextvars.ContextVar(
    "conversations_signals_collecting", default=None
)


class _Marker:
    """An on_commit callback that does nothing: while it is still in the connection's list of
    commit callbacks, the savepoint its announcement was made in has not been rolled back."""

    def __call__(self) -> None:
        pass


# Inside ``handed_to_worker()`` (the webhook's request) the announcements are collected as they
# commit and handed, when the block ends, to ``handover`` (conversations.jobs.announce_in_worker)
# in one batch: one hand-over per request, whatever the number of messages, so the receivers' work
# (live rows, clocks, routing, rules: ~30 ms of CPU per message) leaves the request Meta waits on.
# When the handover raises (broker unreachable) the receivers run here, as outside the block:
# nothing is lost.
_to_worker: contextvars.ContextVar[_Handover | None] = contextvars.ContextVar(
    "conversations_signals_to_worker", default=None
)
BY_NAME = {
    "message_received": message_received,
    "message_sent": message_sent,
    "message_changed": message_changed,
    "conversation_changed": conversation_changed,
    "marketing_preference": marketing_preference,
}
_NAMES = {id(signal): name for name, signal in BY_NAME.items()}


Batch = list[tuple[str, dict]]  # announcements by signal name, as they travel to the worker


class _Handover:
    """The committed announcements of one ``handed_to_worker()`` block."""

    def __init__(self, handover: Callable[[Batch], None]):
        self.handover = handover
        self.pending: list[tuple[Signal, dict]] = []
        self.open = True

    def add(self, signal: Signal, kwargs: dict) -> None:  # an on_commit callback
        if self.open:
            self.pending.append((signal, kwargs))
        else:  # committed after the block ended (a test's captured callbacks): on its own
            _hand_over(self.handover, [(signal, kwargs)])

    def close(self) -> None:
        self.open = False
        if self.pending:
            _hand_over(self.handover, merged(self.pending))


@contextlib.contextmanager
def handed_to_worker(handover: Callable[[Batch], None] | None) -> Iterator[None]:
    """Announcements made inside the block go, once committed, to ``handover(batch)`` when the
    block ends, merged (``merged``) into one batch (None: sent here as usual). Announcements of
    transactions that committed before an error are handed over all the same."""
    box = _Handover(handover) if handover is not None else None
    token = _to_worker.set(box)
    try:
        yield
    finally:
        _to_worker.reset(token)
        if box is not None:
            box.close()


def deliver(name: str, kwargs: dict) -> None:
    """Send the announcement ``name`` now (the worker's side of an old single handover)."""
    _send(BY_NAME[name], kwargs)


def deliver_batch(batch: Batch) -> None:
    """Send a batch of handed-over announcements (of one request or of many), merged: each
    receiver runs once per signal and set of non-list arguments in the batch."""
    for signal, kwargs in merged([(BY_NAME[name], kwargs) for name, kwargs in batch]):
        _send(signal, kwargs)


def _send(signal: Signal, kwargs: dict) -> None:
    for receiver, result in signal.send_robust(sender=None, **kwargs):
        if isinstance(result, Exception):
            log.error(
                "receiver %r of a conversations signal failed",
                getattr(receiver, "__qualname__", receiver),
                exc_info=result,
            )


def _hand_over(handover: Callable[[Batch], None], items: list[tuple[Signal, dict]]) -> None:
    try:
        handover([(_NAMES[id(signal)], kwargs) for signal, kwargs in items])
    except Exception as exc:  # the broker is down: the receivers run here, nothing is lost
        log.warning("announcements not handed to the worker (%s: %s), sent here",
                    type(exc).__name__, str(exc)[:200])  # fmt: skip
        for signal, kwargs in items:
            _send(signal, kwargs)


def announce(signal: Signal, **kwargs) -> None:
    """Send ``signal`` with ``kwargs`` when the current transaction commits (now if none).
    Inside ``coalesced()`` the block's announcements are merged when it ends; inside
    ``handed_to_worker()`` they go to the worker."""
    collected = _collecting.get()
    if collected is not None and transaction.get_connection().in_atomic_block:
        marker = _Marker()
        transaction.on_commit(marker)
        collected.append((signal, kwargs, marker))
        return
    box = _to_worker.get()
    if box is not None:
        transaction.on_commit(partial(box.add, signal, kwargs))
        return
    transaction.on_commit(partial(_send, signal, kwargs))


@contextlib.contextmanager
def coalesced() -> Iterator[None]:
    """Announcements made inside the block (within a transaction) become one announcement per
    signal and non-list arguments when it ends, their id lists merged in order: a batch writer
    that calls a one-message writer per message (a webhook chunk) announces the chunk once, so
    each receiver runs once per chunk instead of once per message.

    Enter it inside the transaction (``with transaction.atomic(), signals.coalesced():``;
    outside any, it changes nothing). An
    announcement made in a savepoint rolled back within the block is dropped, as its on_commit
    would be (Django removes the savepoint's commit callbacks, the markers among them); when the
    block raises, nothing is announced. Signals without a list argument are never merged.
    """
    if not transaction.get_connection().in_atomic_block:
        yield  # each transaction inside commits on its own: nothing to merge
        return
    collected: list = []
    token = _collecting.set(collected)
    try:
        yield
    finally:
        _collecting.reset(token)
    if not collected:
        return
    connection = transaction.get_connection()
    markers = {id(marker) for _signal, _kwargs, marker in collected}
    kept = {id(func) for _sids, func, _robust in connection.run_on_commit}
    connection.run_on_commit = [
        hook for hook in connection.run_on_commit if id(hook[1]) not in markers
    ]
    live = [(signal, kwargs) for signal, kwargs, marker in collected if id(marker) in kept]
    for signal, kwargs in merged(live):  # the others' savepoints were rolled back
        announce(signal, **kwargs)


def merged(items: list[tuple[Signal, dict]]) -> list[tuple[Signal, dict]]:
    """``items`` with the announcements of one signal and the same non-list arguments made one,
    their id lists merged in order without repeats; announcements without a list argument are
    kept as they are, first, in their order."""
    singles: list[tuple[Signal, dict]] = []
    by_key: dict[tuple, tuple[Signal, dict]] = {}
    for signal, kwargs in items:
        lists = {k for k, v in kwargs.items() if isinstance(v, list | tuple)}
        if not lists:
            singles.append((signal, kwargs))
            continue
        key = (id(signal), *sorted((k, repr(v)) for k, v in kwargs.items() if k not in lists))
        if key not in by_key:
            by_key[key] = (signal, {k: (list(v) if k in lists else v) for k, v in kwargs.items()})
            continue
        into = by_key[key][1]
        for name in lists:
            into[name] = list(dict.fromkeys([*into.get(name, ()), *kwargs[name]]))
    return [*singles, *by_key.values()]
