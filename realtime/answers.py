"""Who needs an answer: per inbox row, whether the customer or the desk wrote last, since when
the customer waits, and whether the row is unread for this agent (realtime.models.ReadMarker).

One query for a page of rows (three correlated subqueries on the messages' thread index and the
agent's markers); the inbox row template shows the result (templates/conversations/_inbox_row.html).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import OuterRef, Subquery
from django.utils import timezone

from conversations.models import Conversation, Message
from realtime.models import ReadMarker

CUSTOMER, DESK = "customer", "desk"


@dataclass(frozen=True)
class State:
    last_from: str | None  # CUSTOMER, DESK, or None (no message yet)
    waiting_since: datetime | None  # the first customer message after the desk's last one
    unread: bool | None  # None: not known for this reader (a pushed row; the page decides)

    @property
    def waiting_iso(self) -> str:
        return self.waiting_since.isoformat() if self.waiting_since else ""


def _messages():
    return Message.objects.filter(conversation_id=OuterRef("pk")).exclude(type=Message.Type.SYSTEM)


def states(rows, user=None) -> dict[int, State]:
    """The answer state of each conversation of ``rows``; also set as ``row.answer``."""
    ids = [row.pk for row in rows]
    if not ids:
        return {}
    latest = _messages().order_by("-created_at", "-id")
    qs = Conversation.objects.filter(pk__in=ids).annotate(
        last_direction=Subquery(latest.values("direction")[:1]),
        last_at=Subquery(latest.values("created_at")[:1]),
        last_out=Subquery(
            latest.filter(direction=Message.Direction.OUTBOUND).values("created_at")[:1]
        ),
    )
    qs = qs.annotate(
        first_unanswered=Subquery(
            _messages()
            .filter(direction=Message.Direction.INBOUND, created_at__gt=OuterRef("last_out"))
            .order_by("created_at", "id")
            .values("created_at")[:1]
        )
    )
    columns = ["pk", "last_direction", "last_at", "last_out", "first_unanswered", "opened_at"]
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
        pk, direction, last_at, last_out, first_unanswered, opened_at = values[:6]
        last_from = {Message.Direction.INBOUND: CUSTOMER, Message.Direction.OUTBOUND: DESK}.get(
            direction
        )
        waiting = None
        if last_from == CUSTOMER:
            waiting = first_unanswered if last_out is not None else opened_at
        unread = None
        if known_reader:
            read_at = values[6]
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
