"""What the services tell the rest of the desk after their transaction commits.

Each writer of conversation state calls one of these in its transaction; they send the signals
of conversations/signals.py from ``transaction.on_commit`` (nothing on rollback, nothing from a
rolled-back savepoint). One call per write, or per batch for the batch writers (the inbound
statement, an auto-resolve batch, the media sweep, erasing deleted messages).

Which writer says what (docs/architecture.md keeps the table):

- ``received``: a customer's messages stored (both inbound paths, the phone's history import,
  WhatsApp's system lines); the conversations they opened and the ones they moved back to New.
- ``sent``: the desk stored outbound messages (reply, template, composer, system messages, an
  echo of what the business sent from the WhatsApp app).
- ``message_changed``: delivery (the send's result, status callbacks, failures, a retry),
  ``edited``, ``revoked`` (and the later erasure), ``media`` (a download finished or failed).
- ``conversation_changed``: the Event kind written (``status_changed``, ``assigned``,
  ``unassigned``, ``tag_added``, ..., ``auto_resolved``, ``number_changed``,
  ``identity_changed``, ``opened`` for a conversation opened by no customer's message).
  Conversations an inbound message opens or moves back to New are named by ``received``
  instead, so a receiver hears of each change once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from conversations import signals


def _ids(values: Iterable[int | None]) -> list[int]:
    return list(dict.fromkeys(v for v in values if v is not None))


def received(
    message_ids: Iterable[int],
    *,
    created: Iterable[int] = (),
    reopened: Iterable[int] = (),
) -> None:
    ids = _ids(message_ids)
    if ids:
        signals.announce(
            signals.message_received,
            message_ids=ids,
            created_conversation_ids=_ids(created),
            reopened_conversation_ids=_ids(reopened),
        )


def sent(message_ids: Iterable[int], *, author_id: int | None) -> None:
    ids = _ids(message_ids)
    if ids:
        signals.announce(signals.message_sent, message_ids=ids, author_id=author_id)


def message_changed(message_ids: Iterable[int], *, change: str) -> None:
    ids = _ids(message_ids)
    if ids:
        signals.announce(signals.message_changed, message_ids=ids, change=change)


def conversation_changed(
    conversation_ids: Iterable[int],
    *,
    change: str,
    actor_id: int | None = None,
    at: datetime | None = None,
) -> None:
    ids = _ids(conversation_ids)
    if ids:
        extra = {"at": at} if at is not None else {}
        signals.announce(
            signals.conversation_changed,
            conversation_ids=ids,
            change=str(change),
            actor_id=actor_id,
            **extra,
        )
