"""Who needs an answer: per inbox row, whether the customer or the desk wrote last, since when
the customer waits, and whether the row is unread for this agent (realtime.models.ReadMarker).

One query for a page of rows (the stored ``Conversation.waiting_since``, two correlated subqueries
on the messages' thread index for the newest message, and the agent's marker); the inbox row
template shows the result (templates/conversations/_inbox_row.html).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import OuterRef, Subquery
from django.utils import timezone

from conversations import partitions
from conversations.models import Conversation, Message
from realtime.models import ReadMarker

CUSTOMER, DESK = "customer", "desk"


@dataclass(frozen=True)
class State:
    last_from: str | None  # CUSTOMER, DESK, or None (no message yet)
    waiting_since: datetime | None  # the customer's oldest message the desk has not answered
    unread: bool | None  # None: not known for this reader (a pushed row; the page decides)

    @property
    def waiting_iso(self) -> str:
        return self.waiting_since.isoformat() if self.waiting_since else ""


def states(rows, user=None) -> dict[int, State]:
    """The answer state of each conversation of ``rows``; also set as ``row.answer``.

    Since when the customer waits is stored on the conversation (``waiting_since``, kept by the
    conversations services: an agent's or the Business app's message answers, the system's own
    never does); only the newest message's direction and time are read here."""
    ids = [row.pk for row in rows]
    if not ids:
        return {}
    latest = (
        Message.objects.filter(conversation_id=OuterRef("pk"))
        .exclude(type=Message.Type.SYSTEM)
        .order_by("-created_at", "-id")
    )
    opened = [getattr(row, "opened_at", None) for row in rows]
    if None not in opened:
        # No message is older than its conversation's opening (partitions.thread_floor): a
        # constant bound prunes the monthly partitions when the statement is planned. Each
        # row's newest message was otherwise looked for in every partition (23 at 10M
        # conversations, two subqueries, 50 rows: ~6 ms a page).
        latest = latest.filter(created_at__gte=partitions.thread_floor(min(opened)))
    qs = Conversation.objects.filter(pk__in=ids).annotate(
        last_direction=Subquery(latest.values("direction")[:1]),
        last_at=Subquery(latest.values("created_at")[:1]),
    )
    columns = ["pk", "last_direction", "last_at", "waiting_since"]
    known_reader = user is not None and user.is_authenticated
    if known_reader:
        qs = qs.annotate(
            read_at=Subquery(
                ReadMarker.objects.filter(user_id=user.pk, conversation_id=OuterRef("pk")).values(
                    "read_at"
                )[:1]
            )
        )
        columns.append("read_at")
    found = {}
    for values in qs.values_list(*columns):
        pk, direction, last_at, waiting = values[:4]
        last_from = CUSTOMER if waiting is not None else DESK if direction is not None else None
        unread = None
        if known_reader:
            read_at = values[4]
            unread = last_from == CUSTOMER and (read_at is None or read_at < last_at)
        found[pk] = State(last_from, waiting, unread)
    for row in rows:
        row.answer = found.get(row.pk)
    return found


def mark_read(user, conversation: Conversation) -> None:
    """The agent has seen the conversation as it is now."""
    ReadMarker.objects.update_or_create(
        user_id=user.pk, conversation=conversation, defaults={"read_at": timezone.now()}
    )
