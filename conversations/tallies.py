"""The reports' pre-aggregates: message tallies and each conversation's first responder.

``count_message`` is called by every service that stores a message, in the same transaction,
so the tallies are exact at every commit. ``rebuild`` recomputes both pre-aggregates from the
messages (the migration's backfill, ``manage.py rebuild_report_tallies``, and any loader that
bypasses the services, such as the benchmarks).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from django.db import connection, transaction
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import TruncHour

from conversations.models import Conversation, Message, MessageTally


def hour_of(at: datetime) -> datetime:
    """The UTC hour an instant is counted in."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def count_message(message: Message) -> None:
    """Add one stored message to its tally row (an atomic upsert: concurrent writers of the
    same hour add up instead of overwriting each other). Call inside the storing transaction."""
    table = connection.ops.quote_name(MessageTally._meta.db_table)
    with connection.cursor() as cursor:
        # Both PostgreSQL and SQLite (3.24+) speak this ON CONFLICT form.
        cursor.execute(
            f"INSERT INTO {table} "  # noqa: S608 - the table name is ours; values are parameters
            "(channel_id, hour, author_key, direction, outside_window, count) "
            "VALUES (%s, %s, %s, %s, %s, 1) "
            "ON CONFLICT (channel_id, hour, author_key, direction, outside_window) "
            "DO UPDATE SET count = " + table + ".count + 1",
            [
                message.channel_id,
                hour_of(message.created_at),
                message.author_id or 0,
                message.direction,
                bool(message.sent_outside_window),
            ],
        )


@transaction.atomic
def rebuild(*, channel_ids: Iterable[int] | None = None) -> dict[str, int]:
    """Recompute the tallies and first responders of these channels (all when None) from the
    messages; afterwards they equal what the services would have maintained. Returns the
    number of tally rows written and conversations updated."""
    messages = Message.objects.all()
    tallies = MessageTally.objects.all()
    conversations = Conversation.objects.all()
    if channel_ids is not None:
        ids = list(channel_ids)
        messages = messages.filter(channel_id__in=ids)
        tallies = tallies.filter(channel_id__in=ids)
        conversations = conversations.filter(channel_id__in=ids)
    tallies.delete()
    groups = (
        messages.annotate(h=TruncHour("created_at", tzinfo=UTC))
        .values("channel_id", "h", "author_id", "direction", "sent_outside_window")
        .annotate(n=Count("id"))
        .order_by()
    )
    rows = MessageTally.objects.bulk_create(
        (
            MessageTally(
                channel_id=g["channel_id"],
                hour=g["h"],
                author_key=g["author_id"] or 0,
                direction=g["direction"],
                outside_window=g["sent_outside_window"],
                count=g["n"],
            )
            for g in groups.iterator(chunk_size=5000)
        ),
        batch_size=2000,
    )
    # The first responder is the author of the earliest outbound message (lowest id on a tie),
    # the message whose instant the services wrote into first_response_at.
    first_author = (
        Message.objects.filter(conversation=OuterRef("pk"), direction=Message.Direction.OUTBOUND)
        .order_by("created_at", "id")
        .values("author_id")[:1]
    )
    conversations.filter(first_response_at__isnull=True).update(first_responder=None)
    updated = conversations.filter(first_response_at__isnull=False).update(
        first_responder=Subquery(first_author)
    )
    return {"tallies": len(rows), "conversations": updated}
