"""The conversation figures' pre-aggregate (``ConversationTally``): computed, rolled up, rebuilt.

Every conversation figure of the reports (opened, first response, resolved, resolution time,
who answered first and who resolved, tags and topics, the business-hours times, reopens) is a
count or a percentile over conversations placed in time by one instant: the opening, the
resolve, the reopen. ``compute`` turns the conversations of some UTC hours into rows per
(channel, hour, measure, breakdown, duration bucket); the roll-up (``reports.tallies.roll_up``,
beat) writes the hours up to the watermark, and the report adds the hours after it computed
the same way in memory (``reports.conversation_figures``).

Unlike a message, a conversation changes after the hour it is counted in: it is answered,
resolved, reopened, tagged later. Each of those writes goes through the conversations'
services, which record an Event (status, tags, topics, a failed or retried reply) or store an
outbound message; the roll-up recomputes the opening hours and the resolving hours (now and
before: the hours of its status events) of every conversation with such an event or message
since its previous run. A rebuild recomputes everything (``manage.py rebuild_report_tallies``).

Durations are bucketed logarithmically (``BUCKETS_PER_OCTAVE`` per doubling, so a bucket is
4.4 % wide) and each bucket keeps its smallest and largest exact value: a percentile read from
the buckets is exact when no bucket holds more than two of the values around it, and within one
bucket's width otherwise (``percentiles``). Business-hours durations use the channel's schedule
when the hour is rolled up (service_levels.hours).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.db.models import Max, Min, Q, Sum
from django.db.models.functions import TruncDay

from channels_app.models import Channel
from conversations.models import Conversation, Event, Message
from reports.models import ConversationTally
from service_levels import hours

M = ConversationTally.Measure
D = ConversationTally.Dim
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
BUCKETS_PER_OCTAVE = 16
NO_VALUE = -1
OPENED_MEASURES = (M.FIRST_RESPONSE, M.FIRST_RESPONSE_BUSINESS)
RESOLVED_MEASURES = (M.RESOLUTION, M.RESOLUTION_BUSINESS)
REOPENED_MEASURES = (M.REOPENED,)
ALL_MEASURES = (*OPENED_MEASURES, *RESOLVED_MEASURES, *REOPENED_MEASURES)
# Resolution kinds (Dim.RESOLUTION_KIND's key).
BY_AGENT, AUTOMATIC, OTHER = 1, 2, 3
AUTO_RESOLUTIONS = (Conversation.Resolution.AUTO_NEW, Conversation.Resolution.AUTO_PENDING)
# The writes after which a conversation's figures may differ (all recorded by the services).
CHANGES = (
    Event.Kind.STATUS_CHANGED,
    Event.Kind.AUTO_RESOLVED,
    Event.Kind.TAG_ADDED,
    Event.Kind.TAG_REMOVED,
    Event.Kind.TOPIC_ADDED,
    Event.Kind.TOPIC_REMOVED,
    Event.Kind.REPLY_FAILED,
    Event.Kind.REPLY_RETRIED,
    # A number change can merge a customer's two open conversations into one (their events
    # move along, the other is deleted): see the OPENED events in roll_up.
    Event.Kind.NUMBER_CHANGED,
    Event.Kind.IDENTITY_CHANGED,
)
STATUS_EVENTS = (Event.Kind.STATUS_CHANGED, Event.Kind.AUTO_RESOLVED)
CHUNK = 5000


def bucket(seconds: float | None) -> int:
    """The duration's bucket: -1 for none, 0 below a second, then 16 per doubling."""
    if seconds is None:
        return NO_VALUE
    if seconds < 1:
        return 0
    return 1 + math.floor(BUCKETS_PER_OCTAVE * math.log2(seconds))


def hour_of(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


class Rows(dict):
    """(channel, hour, measure, dim, key, bucket) -> [n, n_resolved, low, high]."""

    def add(self, channel, at, measure, dim, key, seconds=None, *, resolved=False) -> None:
        row = (channel, hour_of(at), measure, dim, key, bucket(seconds))
        slot = self.get(row)
        if slot is None:
            slot = self[row] = [0, 0, None, None]
        slot[0] += 1
        slot[1] += resolved
        if seconds is not None:
            slot[2] = seconds if slot[2] is None else min(slot[2], seconds)
            slot[3] = seconds if slot[3] is None else max(slot[3], seconds)


# A window: (channel ids, start, end), UTC, end exclusive.
Window = tuple[Sequence[int], datetime, datetime]


def _where(field: str, windows: Iterable[Window]) -> Q | None:
    q = None
    for ids, start, end in windows:
        part = Q(channel_id__in=list(ids), **{f"{field}__gte": start, f"{field}__lt": end})
        q = part if q is None else q | part
    return q


def _spans(schedules, rows) -> dict:
    """A SpanIndex per channel over the instants of ``rows`` (channel, start, end)."""
    ranges: dict[int, list] = {}
    for channel, start, end in rows:
        r = ranges.setdefault(channel, [start, end])
        r[0], r[1] = min(r[0], start), max(r[1], end)
    return {c: hours.SpanIndex(schedules[c], lo, hi) for c, (lo, hi) in ranges.items()}


def compute(
    *,
    opened: Sequence[Window] = (),
    resolved: Sequence[Window] = (),
    reopened: Sequence[Window] = (),
    business: bool = True,
    calendar: bool = True,
) -> Rows:
    """The rows of the conversations opened, resolved, reopened in these windows (a fixed few
    queries). ``calendar``/``business`` leave out the calendar or the business-hours measures."""
    rows = Rows()
    opened_q, resolved_q, reopened_q = (
        _where("opened_at", opened),
        _where("resolved_at", resolved),
        _reopen_q(reopened),
    )
    schedules = None
    if business and (opened_q is not None or resolved_q is not None):
        channel_ids = {c for w in (*opened, *resolved) for c in w[0]}
        schedules = hours.schedules(channel_ids)
    if opened_q is not None:
        convs = list(
            Conversation.objects.filter(opened_q).values_list(
                "id", "channel_id", "opened_at", "first_response_at", "first_responder_id",
                "status",
            )
        )  # fmt: skip
        labels = defaultdict(list)
        if calendar:
            tags, topics = Conversation.tags.through, Conversation.topics.through
            for dim, model, field in ((D.TAG, tags, "tag_id"), (D.TOPIC, topics, "topic_id")):
                pairs = model.objects.filter(
                    conversation__in=Conversation.objects.filter(opened_q).values("pk")
                ).values_list("conversation_id", field)
                for conversation_id, label in pairs:
                    labels[conversation_id].append((dim, label))
        spans = {}
        if schedules is not None:
            spans = _spans(schedules, [(c[1], c[2], c[3]) for c in convs if c[3] is not None])
        for pk, channel, at, first, responder, status in convs:
            now_resolved = status == Conversation.Status.RESOLVED
            d = None if first is None else (first - at).total_seconds()
            if calendar:
                rows.add(channel, at, M.FIRST_RESPONSE, D.ALL, 0, d, resolved=now_resolved)
                if d is not None and responder is not None:
                    rows.add(channel, at, M.FIRST_RESPONSE, D.AGENT, responder, d)
                for dim, label in labels.get(pk, ()):
                    rows.add(channel, at, M.FIRST_RESPONSE, dim, label, d, resolved=now_resolved)
            if d is not None and schedules is not None:
                b = spans[channel].seconds(at, first)
                rows.add(channel, at, M.FIRST_RESPONSE_BUSINESS, D.ALL, 0, b)
    if resolved_q is not None:
        convs = list(
            Conversation.objects.filter(resolved_q).values_list(
                "channel_id", "opened_at", "resolved_at", "resolution", "resolved_by_id"
            )
        )
        spans = {}
        if schedules is not None:
            spans = _spans(schedules, [(c[0], c[1], c[2]) for c in convs])
        for channel, at, done, resolution, agent in convs:
            if calendar:
                rows.add(channel, done, M.RESOLUTION, D.ALL, 0, (done - at).total_seconds())
                if resolution == Conversation.Resolution.AGENT:
                    rows.add(channel, done, M.RESOLUTION, D.RESOLUTION_KIND, BY_AGENT)
                    if agent is not None:
                        rows.add(channel, done, M.RESOLUTION, D.AGENT, agent)
                else:
                    kind = AUTOMATIC if resolution in AUTO_RESOLUTIONS else OTHER
                    rows.add(channel, done, M.RESOLUTION, D.RESOLUTION_KIND, kind)
            if schedules is not None:
                b = spans[channel].seconds(at, done)
                rows.add(channel, done, M.RESOLUTION_BUSINESS, D.ALL, 0, b)
    if reopened_q is not None and calendar:
        events = Event.objects.filter(
            reopened_q, kind=Event.Kind.STATUS_CHANGED, data__reopened=True
        ).values_list("conversation__channel_id", "created_at")
        for channel, at in events:
            rows.add(channel, at, M.REOPENED, D.ALL, 0)
    return rows


def _reopen_q(windows: Iterable[Window]) -> Q | None:
    q = None
    for ids, start, end in windows:
        part = Q(conversation__channel_id__in=list(ids), created_at__gte=start, created_at__lt=end)
        q = part if q is None else q | part
    return q


# --- writing -------------------------------------------------------------------------------


def _write(rows: Rows) -> int:
    """Insert the hour rows: one parameterised INSERT run over batches (executemany), not the
    ORM's bulk_create, whose per-value preparation was half of a roll-up's time at 10M."""
    q = connection.ops.quote_name
    columns = ("channel_id", "day", "start", "measure", "dim", "key", "bucket", "n",
               "n_resolved", "low", "high")  # fmt: skip
    sql = (
        f"INSERT INTO {q(ConversationTally._meta.db_table)} "  # noqa: S608 (our names)
        f"({', '.join(q(c) for c in columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
    )
    # Each hour adapted once, as the ORM stores it (naive UTC text on SQLite).
    hours = {start: connection.ops.adapt_datetimefield_value(start) for _c, start, *_k in rows}
    values = [
        (channel, False, hours[start], measure, dim, key, b, n, n_resolved, low, high)
        for (channel, start, measure, dim, key, b), (n, n_resolved, low, high) in rows.items()
    ]
    with connection.cursor() as cursor:
        for i in range(0, len(values), 5000):
            cursor.executemany(sql, values[i : i + 5000])
    return len(values)


def _delete_hours(windows: Iterable[Window], measures) -> None:
    q = None
    for ids, start, end in windows:
        part = Q(channel_id__in=list(ids), start__gte=start, start__lt=end)
        q = part if q is None else q | part
    if q is not None:
        ConversationTally.objects.filter(q, day=False, measure__in=measures).delete()


def _days_of(windows: Iterable[Window]) -> dict[datetime, set[int]]:
    """The UTC days the windows touch, with the channels touched on each."""
    days: dict[datetime, set[int]] = defaultdict(set)
    for ids, start, end in windows:
        day = start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        while day < end:
            days[day].update(ids)
            day += DAY
    return days


def _write_days(days: dict[datetime, set[int]], upto: datetime) -> None:
    """Recompute the day rows of these UTC days (complete ones: ended by ``upto``) from their
    hour rows: one DELETE and one INSERT ... SELECT per run of days with the same channels."""
    for day, ids in sorted(days.items()):
        if day + DAY > upto:
            continue
        ConversationTally.objects.filter(
            channel_id__in=list(ids), day=True, start__gte=day, start__lt=day + DAY
        ).delete()
        groups = (
            ConversationTally.objects.filter(
                channel_id__in=list(ids), day=False, start__gte=day, start__lt=day + DAY
            )
            .annotate(d=TruncDay("start", tzinfo=UTC))
            .values("channel_id", "d", "measure", "dim", "key", "bucket")
            .annotate(sn=Sum("n"), sr=Sum("n_resolved"), lo=Min("low"), hi=Max("high"))
            .order_by()
        )
        select_sql, params = groups.query.sql_with_params()
        q = connection.ops.quote_name
        table = q(ConversationTally._meta.db_table)
        into = ", ".join(
            q(c)
            for c in ("channel_id", "day", "start", "measure", "dim", "key", "bucket", "n",
                      "n_resolved", "low", "high")
        )  # fmt: skip
        with connection.cursor() as cursor:
            # Our table and column names; every value is a parameter of the SELECT.
            cursor.execute(
                f"INSERT INTO {table} ({into}) SELECT channel_id, %s, d, measure, dim, "  # noqa: S608
                f"{q('key')}, bucket, sn, sr, lo, hi FROM ({select_sql}) g",
                (True, *params),
            )


def recompute(
    *,
    opened: Sequence[Window] = (),
    resolved: Sequence[Window] = (),
    reopened: Sequence[Window] = (),
    upto: datetime,
) -> int:
    """Replace the hour rows of these windows (of their measures) by recomputed ones, then the
    day rows of the complete UTC days they touch. The caller holds the roll-up lock."""
    _delete_hours(opened, OPENED_MEASURES)
    _delete_hours(resolved, RESOLVED_MEASURES)
    _delete_hours(reopened, REOPENED_MEASURES)
    written = _write(compute(opened=opened, resolved=resolved, reopened=reopened))
    days = _days_of([*opened, *resolved, *reopened])
    _write_days(days, upto)
    return written


def _hour_windows(pairs: Iterable[tuple[int, datetime]], before: datetime) -> list[Window]:
    """One window per (channel, hour) before ``before``, merged into runs of hours."""
    by_channel: dict[int, list[datetime]] = defaultdict(list)
    for channel, at in pairs:
        if at is not None and hour_of(at) < before:
            by_channel[channel].append(hour_of(at))
    windows = []
    for channel, starts in by_channel.items():
        run_start = run_end = None
        for h in sorted(set(starts)):
            if run_end == h:
                run_end = h + HOUR
                continue
            if run_start is not None:
                windows.append(([channel], run_start, run_end))
            run_start, run_end = h, h + HOUR
        windows.append(([channel], run_start, run_end))
    return windows


def roll_up(*, since: datetime | None, start: datetime | None, upto: datetime) -> int:
    """The roll-up's conversation part (``reports.tallies.roll_up`` calls it under its lock):
    every hour in [start, upto) (everything before ``upto`` when start is None), and the hours
    of the conversations changed since ``since`` (a reply, an event), before ``start``."""
    if start is None or not ConversationTally.objects.exists():
        # The first run, or the first since this roll-up was added to a desk with history
        # (``manage.py rebuild_report_tallies`` does the same outside the beat job).
        return rebuild(channel_ids=None, upto=upto)
    channels = list(Channel.objects.values_list("pk", flat=True))
    written = recompute(
        opened=[(channels, start, upto)],
        resolved=[(channels, start, upto)],
        reopened=[(channels, start, upto)],
        upto=upto,
    )
    if since is None:
        return written
    changed = (
        Event.objects.filter(kind__in=CHANGES, created_at__gte=since)
        .values("conversation_id")
        .union(
            Message.objects.filter(
                channel_id__in=channels,
                direction=Message.Direction.OUTBOUND,
                created_at__gte=since,
            ).values("conversation_id")
        )
    )
    ids = sorted({row["conversation_id"] for row in changed})
    # Every hour such a conversation was counted in: its opening and its resolve now, and
    # those of its status events and OPENED events (a resolve that a reopen cleared, or a
    # conversation merged into it and deleted), whose instants are those of the changes. In
    # chunks: after a long outage the list can be long (SQLite's limit of bound variables).
    convs, was_opened, was_resolved = [], [], []
    for i in range(0, len(ids), CHUNK):
        chunk = ids[i : i + CHUNK]
        convs += Conversation.objects.filter(pk__in=chunk).values_list(
            "channel_id", "opened_at", "resolved_at"
        )
        events = Event.objects.filter(
            conversation_id__in=chunk, kind__in=(*STATUS_EVENTS, Event.Kind.OPENED)
        ).values_list("conversation__channel_id", "created_at", "kind")
        for channel, at, kind in events:
            (was_opened if kind == Event.Kind.OPENED else was_resolved).append((channel, at))
    opened = _hour_windows([*((c, o) for c, o, _r in convs), *was_opened], start)
    resolved = _hour_windows([*((c, r) for c, _o, r in convs), *was_resolved], start)
    return written + recompute(opened=opened, resolved=resolved, upto=upto)


def rebuild(*, channel_ids: Sequence[int] | None, upto: datetime) -> int:
    """Recompute every row before ``upto`` of these channels (all when None), a UTC day at a
    time (so a year of a busy desk never sits in memory at once). The caller holds the lock."""
    ids = list(channel_ids) if channel_ids is not None else None
    tallies = ConversationTally.objects.filter(start__lt=upto)
    conversations = Conversation.objects.all()
    if ids is not None:
        tallies = tallies.filter(channel_id__in=ids)
        conversations = conversations.filter(channel_id__in=ids)
    tallies.delete()
    channels = ids if ids is not None else list(Channel.objects.values_list("pk", flat=True))
    first = conversations.aggregate(a=Min("opened_at"), b=Min("resolved_at"))
    starts = [v for v in first.values() if v is not None]
    if not starts or not channels:
        return 0
    day = min(starts).astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    written = 0
    while day < upto:
        end = min(day + DAY, upto)
        window = [(channels, day, end)]
        written += _write(compute(opened=window, resolved=window, reopened=window))
        day = end
    # Day rows from the hour rows, every complete day at once.
    everything = ConversationTally.objects.filter(day=False, start__lt=upto)
    if ids is not None:
        everything = everything.filter(channel_id__in=ids)
    span = everything.aggregate(a=Min("start"), b=Max("start"))
    if span["a"] is not None:
        _write_days(_days_of([(channels, span["a"], span["b"] + HOUR)]), upto)
    return written
