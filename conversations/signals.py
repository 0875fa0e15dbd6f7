"""What the conversations' writers announce, after their transaction commits.

Every writer of conversation state (the services: inbound through the ORM and through the one
SQL statement, outbound, lifecycle, auto-resolve, status webhooks, edits and revocations) sends
these signals from ``transaction.on_commit``, so a receiver only ever sees committed rows. The
arguments are plain ids and strings (cheap for the batch paths; a receiver loads what it needs).
Receivers are other apps (live push, routing, service levels, automations, outgoing webhooks):
they connect in their ``AppConfig.ready`` and must be quick (publish or enqueue, no slow I/O).
Senders use ``send_robust``: a failing receiver is logged and never undoes or blocks a write.

``message_received``      a customer's message was stored.
    kwargs: message_id, conversation_id, channel_id, created_conversation (bool),
            reopened (bool: a Resolved conversation went back to New)
``message_sent``          the desk stored an outbound message (reply, template, system).
    kwargs: message_id, conversation_id, channel_id, author_id (None for the system)
``message_changed``       a message's delivery state, text (edit), or revocation changed.
    kwargs: message_id, conversation_id, channel_id,
            change ("delivery" | "edited" | "revoked" | "media")
``conversation_changed``  a conversation's state changed: status, assignee, tags, topics, notes.
    kwargs: conversation_id, channel_id, change (the Event kind written, e.g. "status",
            "assigned"), actor_id (None for the system)
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.dispatch import Signal

log = logging.getLogger(__name__)

message_received = Signal()
message_sent = Signal()
message_changed = Signal()
conversation_changed = Signal()


def announce(signal: Signal, **kwargs) -> None:
    """Send ``signal`` with ``kwargs`` when the current transaction commits (now if none)."""

    def send() -> None:
        for receiver, result in signal.send_robust(sender=None, **kwargs):
            if isinstance(result, Exception):
                log.error(
                    "receiver %r of a conversations signal failed",
                    getattr(receiver, "__qualname__", receiver),
                    exc_info=result,
                )

    transaction.on_commit(send)
