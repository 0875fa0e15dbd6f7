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
            actor_id (None for the system)
``marketing_preference``  WhatsApp reported a customer's marketing choice (user_preferences).
    kwargs: channel_id, wa_id, value ("stop" | "resume"), detail, at (Meta's time)
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
marketing_preference = Signal()


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
