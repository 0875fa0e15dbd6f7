"""The conversation figures of a report read from the roll-up (``ConversationTally``).

Used when the period's ends are whole UTC hours (every zone with a whole-hour offset; others
compute from the conversations, ``reports.build``). The hours before the roll-up watermark come
from the tallies — per day of the user's zone from the hour rows (one statement), and the
period's totals per breakdown from the day rows of the whole UTC days inside the period plus the
hour rows at its ends (one statement) — and the hours from the watermark on are computed from
their conversations in memory, the same way the roll-up does (``conversation_tallies.compute``).
Percentiles come from the merged duration buckets (``percentiles``); see docs/reports.md.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from django.contrib.auth import get_user_model
from django.db.models import Max, Min, Q, Sum
from django.db.models.functions import TruncDate

from conversations.models import Tag, Topic
from reports import conversation_tallies as ct
from reports.figures import PERCENTILES, Duration, LabelRow, Period, Spread
from reports.models import ConversationTally, TallyWatermark
from reports.sql import as_date

M, D = ct.M, ct.D


def percentiles(buckets: dict[int, list], ps=PERCENTILES) -> list[float | None]:
    """``percentile_cont`` of the durations behind ``buckets`` (bucket -> [n, low, high]):
    the value at rank ``k = p·(n−1)`` interpolated as PostgreSQL does, each rank's value read
    inside its bucket between the bucket's smallest and largest duration (exact for a bucket
    of one or two values)."""
    items = sorted((b, v) for b, v in buckets.items() if b != ct.NO_VALUE and v[0])
    total = sum(v[0] for _b, v in items)
    if not total:
        return [None] * len(ps)

    def at(rank: int) -> float:
        for _b, (n, low, high) in items:
            if rank < n:
                return low if n == 1 else low + (high - low) * rank / (n - 1)
            rank -= n
        raise IndexError(rank)

    result = []
    for p in ps:
        k = p / 100 * (total - 1)
        lo = int(k)
        value = at(lo)
        if k > lo:
            value += (k - lo) * (at(lo + 1) - value)
        result.append(value)
    return result


def _merge(target: dict, b: int, n: int, low, high) -> None:
    slot = target.get(b)
    if slot is None:
        target[b] = [n, low, high]
        return
    slot[0] += n
    if low is not None:
        slot[1] = low if slot[1] is None else min(slot[1], low)
    if high is not None:
        slot[2] = high if slot[2] is None else max(slot[2], high)


@dataclass
class Histogram:
    n: int = 0
    n_resolved: int = 0
    buckets: dict = field(default_factory=dict)

    def add(self, b, n, n_resolved, low, high) -> None:
        self.n += n
        self.n_resolved += n_resolved
        _merge(self.buckets, b, n, low, high)

    @property
    def answered(self) -> int:
        return sum(v[0] for b, v in self.buckets.items() if b != ct.NO_VALUE)

    def spread(self) -> Spread:
        p50, p90 = percentiles(self.buckets)
        return Spread(count=self.answered, median=Duration(p50), p90=Duration(p90))

    def median(self) -> float | None:
        return percentiles(self.buckets, (50,))[0]


@dataclass
class ConversationFigures:
    """Per day: opened (with the first responses) and resolved; per (measure, dim, key) over
    the period: the histogram."""

    days: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(Histogram)))
    totals: dict = field(default_factory=lambda: defaultdict(Histogram))

    def day(self, measure) -> dict[date, Histogram]:
        return {d: h[measure] for d, h in self.days.items() if measure in h}

    def total(self, measure, dim=D.ALL, key=0) -> Histogram:
        return self.totals.get((measure, dim, key)) or Histogram()

    def keys(self, measure, dim) -> dict[int, Histogram]:
        return {k: h for (m, d, k), h in self.totals.items() if m == measure and d == dim}


# The rows of the per-day figures: the first responses (all) and the resolved (per kind of
# resolution: a few rows an hour, adding up to all).
PER_DAY_KEYS = {M.FIRST_RESPONSE: D.ALL, M.RESOLUTION: D.RESOLUTION_KIND}
PER_DAY = Q(measure=M.FIRST_RESPONSE, dim=D.ALL) | Q(measure=M.RESOLUTION, dim=D.RESOLUTION_KIND)


def _day_start(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def read(channel_ids: list[int], period: Period, *, business: bool) -> ConversationFigures:
    """The figures of ``period`` (whole UTC hours at both ends): the calendar ones (opened,
    first response, resolved, resolution, agents, tags, topics, reopened), or with
    ``business`` the business-hours first response and resolution. 3 queries for the stored
    hours, the in-memory part a fixed few more."""
    measures = (
        (M.FIRST_RESPONSE_BUSINESS, M.RESOLUTION_BUSINESS)
        if business
        else (M.FIRST_RESPONSE, M.RESOLUTION, M.REOPENED)
    )
    figures = ConversationFigures()
    start, end = period.start.astimezone(UTC), period.end.astimezone(UTC)
    upto = TallyWatermark.objects.values_list("upto", flat=True).order_by("pk").first()
    stored_end = start if upto is None else max(start, min(end, upto))
    tallies = ConversationTally.objects.filter(channel_id__in=channel_ids, measure__in=measures)
    if stored_end > start:
        if not business:
            # Per day of the user's zone, from the hour rows: the first responses (buckets, for
            # the day's median) and the resolved (the resolution kinds' rows, a few an hour).
            per_day = (
                tallies.filter(PER_DAY, day=False, start__gte=start, start__lt=stored_end)
                .annotate(g=TruncDate("start", tzinfo=period.tz))
                .values("g", "measure", "bucket")
                .annotate(sn=Sum("n"), sr=Sum("n_resolved"), lo=Min("low"), hi=Max("high"))
                .order_by()
            )
            for r in per_day:
                h = figures.days[as_date(r["g"])][r["measure"]]
                h.add(r["bucket"], r["sn"], r["sr"], r["lo"], r["hi"])
                if r["measure"] == M.FIRST_RESPONSE:
                    figures.totals[(M.FIRST_RESPONSE, D.ALL, 0)].add(
                        r["bucket"], r["sn"], r["sr"], r["lo"], r["hi"]
                    )
        # The period's totals per breakdown: day rows for the whole UTC days, hour rows at the
        # ends (the per-day statement above already has the first responses' ALL rows).
        first_day = _day_start(start)
        if first_day < start:
            first_day += ct.DAY
        last_day = _day_start(stored_end)
        if first_day < last_day:
            when = (
                Q(day=True, start__gte=first_day, start__lt=last_day)
                | Q(day=False, start__gte=start, start__lt=first_day)
                | Q(day=False, start__gte=last_day, start__lt=stored_end)
            )
        else:
            when = Q(day=False, start__gte=start, start__lt=stored_end)
        totals = tallies.filter(when)
        if not business:
            totals = totals.exclude(measure=M.FIRST_RESPONSE, dim=D.ALL)
        rows = (
            totals.values("measure", "dim", "key", "bucket")
            .annotate(sn=Sum("n"), sr=Sum("n_resolved"), lo=Min("low"), hi=Max("high"))
            .order_by()
        )
        for r in rows:
            figures.totals[(r["measure"], r["dim"], r["key"])].add(
                r["bucket"], r["sn"], r["sr"], r["lo"], r["hi"]
            )
    if stored_end < end:
        # The hours from the watermark on (an hour or so; the whole period before any roll-up).
        window = [(channel_ids, stored_end, end)]
        live = ct.compute(
            opened=window,
            resolved=window,
            reopened=[] if business else window,
            business=business,
            calendar=not business,
        )
        for (_c, hour, measure, dim, key, b), (n, n_resolved, low, high) in live.items():
            if measure not in measures:
                continue
            if not business and PER_DAY_KEYS.get(measure) == dim:
                g = hour.astimezone(period.tz).date()
                figures.days[g][measure].add(b, n, n_resolved, low, high)
            figures.totals[(measure, dim, key)].add(b, n, n_resolved, low, high)
    return figures


# --- the report's parts --------------------------------------------------------------------


@dataclass
class Parts:
    """The conversation figures in the shape ``build_report`` lays out, from either path."""

    opened: dict  # date -> (opened, median first response)
    resolved: dict  # date -> resolved
    opened_total: int
    first_response: Spread
    responders: dict  # user id -> (first responses, median)
    resolution: Spread
    by_agents: int
    automatically: int
    resolvers: dict  # user id -> resolved
    reopened: int
    tags: list  # LabelRow
    topics: list
    names: dict = field(default_factory=dict)  # user id -> (first name, last name, username)


def parts(channel_ids: list[int], period: Period) -> Parts:
    f = read(channel_ids, period, business=False)
    kinds = f.keys(M.RESOLUTION, D.RESOLUTION_KIND)

    def n_of(kind) -> int:
        h = kinds.get(kind)
        return h.n if h else 0

    def labels(dim, model) -> list[LabelRow]:
        found = f.keys(M.FIRST_RESPONSE, dim)
        names = dict(model.objects.filter(pk__in=list(found)).values_list("pk", "name"))
        rows = [
            LabelRow(
                id=k,
                name=names[k],
                opened=h.n,
                resolved=h.n_resolved,
                first_response_median=Duration(h.median()),
            )
            for k, h in found.items()
            if k in names  # a deleted tag or topic is no longer on any conversation
        ]
        return sorted(rows, key=lambda r: (-r.opened, r.name.lower()))

    responders = {k: (h.answered, h.median()) for k, h in f.keys(M.FIRST_RESPONSE, D.AGENT).items()}
    resolvers = {k: h.n for k, h in f.keys(M.RESOLUTION, D.AGENT).items()}
    users = get_user_model().objects.filter(pk__in={*responders, *resolvers})
    return Parts(
        opened={d: (h.n, h.median()) for d, h in f.day(M.FIRST_RESPONSE).items()},
        resolved={d: h.n for d, h in f.day(M.RESOLUTION).items()},
        opened_total=f.total(M.FIRST_RESPONSE).n,
        first_response=f.total(M.FIRST_RESPONSE).spread(),
        responders=responders,
        resolution=f.total(M.RESOLUTION).spread(),
        by_agents=n_of(ct.BY_AGENT),
        automatically=n_of(ct.AUTOMATIC),
        resolvers=resolvers,
        reopened=f.total(M.REOPENED).n,
        tags=labels(D.TAG, Tag),
        topics=labels(D.TOPIC, Topic),
        names={u.pk: (u.first_name, u.last_name, u.get_username()) for u in users},
    )


def business_spreads(channel_ids: list[int], period: Period) -> tuple[Spread, Spread]:
    """(first response, resolution) in business hours, from the roll-up."""
    f = read(channel_ids, period, business=True)
    return f.total(M.FIRST_RESPONSE_BUSINESS).spread(), f.total(M.RESOLUTION_BUSINESS).spread()
