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
from collections.abc import Iterator

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


def announce(signal: Signal, **kwargs) -> None:
    """Send ``signal`` with ``kwargs`` when the current transaction commits (now if none).
    Inside ``coalesced()`` the block's announcements are merged when it ends."""
    collected = _collecting.get()
    if collected is not None and transaction.get_connection().in_atomic_block:
        marker = _Marker()
        transaction.on_commit(marker)
        collected.append((signal, kwargs, marker))
        return

    def send() -> None:
        for receiver, result in signal.send_robust(sender=None, **kwargs):
            if isinstance(result, Exception):
                log.error(
                    "receiver %r of a conversations signal failed",
                    getattr(receiver, "__qualname__", receiver),
                    exc_info=result,
                )

    transaction.on_commit(send)


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
    merged: dict[tuple, tuple[Signal, dict]] = {}
    for signal, kwargs, marker in collected:
        if id(marker) not in kept:
            continue  # its savepoint was rolled back
        lists = {k for k, v in kwargs.items() if isinstance(v, list | tuple)}
        if not lists:
            announce(signal, **kwargs)
            continue
        key = (id(signal), *sorted((k, repr(v)) for k, v in kwargs.items() if k not in lists))
        if key not in merged:
            merged[key] = (signal, {k: (list(v) if k in lists else v) for k, v in kwargs.items()})
            continue
        into = merged[key][1]
        for name in lists:
            into[name] = list(dict.fromkeys([*into.get(name, ()), *kwargs[name]]))
    for signal, kwargs in merged.values():
        announce(signal, **kwargs)
