"""The reports' pre-aggregates: message tallies (rolled up) and each conversation's first
responder.

Nothing on the message path writes a tally: a webhook or a reply only inserts its message, so
concurrent messages of one busy channel never queue on a shared counter row. Instead
``roll_up`` (the Celery beat task ``roll_up_report_tallies``, every few minutes) recomputes
whole past hours from the messages into ``MessageTally`` and moves the watermark
(``TallyWatermark.upto``) forward; the report adds the messages from the watermark on, counted
live (an hour or so of rows, read through ``msg_channel_time``). ``rebuild`` recomputes
everything (the command ``rebuild_report_tallies``, and loaders that bypass the services).

Both recompute by delete + insert of whole hours in one transaction, under a lock that
serialises them, so they are idempotent and a report (one statement for the messages) sees
either the old hours and watermark or the new ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from django.db import connection, transaction
from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce, TruncHour
from django.utils import timezone

from channels_app.models import Channel
from config import db_features
from conversations.models import Conversation, Message
from reports import conversation_tallies, costs
from reports.models import MessageTally, TallyWatermark

# A message's created_at is taken when its transaction starts; the hour it falls in is rolled
# up only once it is this far in the past, so a transaction still open then is rare.
SETTLE = timedelta(minutes=5)
# Each roll-up recomputes this much before the previous watermark too: a message committed
# later than SETTLE (a very slow transaction) is still counted by the next run.
LOOKBACK = timedelta(hours=1)

# pg_advisory_xact_lock key, fixed so every process agrees on it ("tallies" in ASCII).
LOCK_KEY = 0x74616C6C696573


def hour_of(at: datetime) -> datetime:
    """The UTC hour an instant is counted in."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def watermark() -> datetime | None:
    """The instant before which the tallies are complete (None: nothing rolled up yet)."""
    return TallyWatermark.objects.values_list("upto", flat=True).order_by("pk").first()


def _lock() -> None:
    # Roll-ups and rebuilds delete and insert the same keys: one at a time. SQLite
    # serialises writing transactions by itself.
    db_features.dialect().advisory_xact_lock(connection, LOCK_KEY)


def _set_watermark(upto: datetime, now: datetime) -> None:
    updated = TallyWatermark.objects.update(upto=upto, updated_at=now)
    if not updated:
        TallyWatermark.objects.create(upto=upto, updated_at=now)


def _recompute(*, start: datetime | None, end: datetime, channel_ids: Sequence[int] | None) -> int:
    """Replace the tally rows of the hours in [start, end) (all before ``end`` when start is
    None) of these channels (all when None) by counts of their messages; one INSERT ...
    SELECT, no rows through Python. Returns the number of rows written."""
    messages = Message.objects.filter(created_at__lt=end)
    tallies = MessageTally.objects.filter(hour__lt=end)
    if start is not None:
        messages = messages.filter(created_at__gte=start)
        tallies = tallies.filter(hour__gte=start)
    if channel_ids is None and start is not None:
        # An explicit list lets PostgreSQL range-scan msg_channel_time once per channel
        # instead of reading every message.
        channel_ids = list(Channel.objects.values_list("pk", flat=True))
    if channel_ids is not None:
        messages = messages.filter(channel_id__in=channel_ids)
        tallies = tallies.filter(channel_id__in=channel_ids)
    tallies.delete()
    groups = (
        messages.annotate(hour=TruncHour("created_at", tzinfo=UTC))
        .values("channel_id", "hour", "direction", "sent_outside_window")
        .annotate(
            author_key=Coalesce("author_id", Value(0), output_field=IntegerField()),
            count=Count("id"),
        )
        .order_by()
    )
    select_sql, params = groups.query.sql_with_params()
    q = connection.ops.quote_name
    table = q(MessageTally._meta.db_table)
    into = ", ".join(
        q(c) for c in ("channel_id", "hour", "direction", "outside_window", "author_key", "count")
    )
    picked = ", ".join(
        q(c)
        for c in ("channel_id", "hour", "direction", "sent_outside_window", "author_key", "count")
    )
    with connection.cursor() as cursor:
        # The table and column names are ours; every value is a parameter of the SELECT.
        cursor.execute(
            f"INSERT INTO {table} ({into}) SELECT {picked} FROM ({select_sql}) g",  # noqa: S608
            params,
        )
        written = max(cursor.rowcount, 0)
    # The messaging costs of the same hours (their priced outbound messages).
    costs.recount(start=start, end=end, channel_ids=channel_ids)
    return written


@transaction.atomic
def roll_up(*, now: datetime) -> dict:
    """Move the watermark to the last whole hour ended at least ``SETTLE`` before ``now`` and
    recompute every hour from ``LOOKBACK`` before the previous watermark up to it (everything
    the first time). Idempotent: a second run recomputes the same hours to the same counts.
    Returns the new watermark and the number of tally rows written."""
    _lock()
    current = watermark()
    last_run = TallyWatermark.objects.values_list("updated_at", flat=True).order_by("pk").first()
    target = hour_of(now - SETTLE)
    upto = max(current, target) if current else target
    start = None if current is None else min(current, target) - LOOKBACK
    rows = _recompute(start=start, end=upto, channel_ids=None)
    # The conversations: the same hours, and those of the conversations changed since the
    # previous run (LOOKBACK earlier too, for a transaction that committed late).
    conversation_rows = conversation_tallies.roll_up(
        since=None if last_run is None else last_run - LOOKBACK, start=start, upto=upto
    )
    _set_watermark(upto, now)
    return {
        "upto": upto.isoformat(),
        "tallies": rows,
        "conversation_tallies": conversation_rows,
    }


@transaction.atomic
def rebuild(
    *, channel_ids: Iterable[int] | None = None, now: datetime | None = None
) -> dict[str, int]:
    """Recompute the tallies (every hour before the watermark), the first responses (when
    and by whom) and the conversation tallies of these channels (all when None). Rebuilding all
    channels, or any when nothing was rolled up yet, also rolls the watermark up to ``now``.
    Returns the number of tally rows written and of answered conversations."""
    _lock()
    now = now or timezone.now()
    current = watermark()
    ids = None if channel_ids is None else list(channel_ids)
    if ids is None or current is None:
        target = hour_of(now - SETTLE)
        upto = max(current, target) if current else target
        rows = _recompute(start=None, end=upto, channel_ids=None)
        _set_watermark(upto, now)
    else:
        rows = _recompute(start=None, end=current, channel_ids=ids)

    conversations = Conversation.objects.all()
    if ids is not None:
        conversations = conversations.filter(channel_id__in=ids)
    # The first response is the earliest outbound message that has not failed (lowest id on a
    # tie), from when it was last sent again if it was: the rule of the services
    # (outbound.recount_first_response). A failed reply never reached the customer, and the
    # system's own messages (no author, sent by the desk: away message, greeting, survey) answer
    # nobody.
    first = (
        Message.objects.filter(conversation=OuterRef("pk"), direction=Message.Direction.OUTBOUND)
        .exclude(delivery=Message.Delivery.FAILED)
        .exclude(author__isnull=True, via=Message.Via.DESK)
        .annotate(at=Coalesce("retried_at", "created_at"))
        .order_by("at", "id")
    )
    conversations.update(
        first_response_at=Subquery(first.values("at")[:1]),
        first_responder=Subquery(first.values("author_id")[:1]),
    )
    answered = conversations.filter(first_response_at__isnull=False).count()
    # The conversation figures last: they read the first responses just rebuilt.
    conversation_rows = conversation_tallies.rebuild(
        channel_ids=ids if ids is not None and current is not None else None,
        upto=watermark(),
    )
    return {"tallies": rows, "conversations": answered, "conversation_tallies": conversation_rows}
