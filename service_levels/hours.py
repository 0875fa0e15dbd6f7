"""Business hours: "is this channel open at t" and "business seconds between a and b".

A channel's schedule is its time zone, per weekday one or more opening intervals, and the
holidays of the holiday sets it uses. Rules (docs/service-levels.md):

- an interval belongs to the weekday it opens on; ``closes`` at or before ``opens`` runs into the
  next day (Friday 22:00-02:00 is open until Saturday 02:00), equal times mean 24 hours;
- a holiday closes every interval that opens on it (one-off dates, or yearly day and month);
- local times are turned into instants in the channel's zone, and all arithmetic is done on
  UTC instants, so a day of a daylight-saving change is 23 or 25 hours long, and an interval
  that spans the change is an hour shorter or longer in real time. A local opening time that
  does not exist (02:30 on the spring-forward night) is read with the offset before the change
  (zoneinfo's ``fold=0``), i.e. an hour later on the wall clock;
- a channel without service settings, or with business hours switched off, is always open, and
  its business seconds are calendar seconds.

Every function takes a Channel or its id.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from time import monotonic
from zoneinfo import ZoneInfo

from channels_app.models import Channel
from service_levels.models import Holiday, ServiceSettings

# How far ahead the walks look for an opening before they give up (a schedule with no
# intervals, or holidays on every open day): then nothing is ever due.
HORIZON_DAYS = 400
_CHUNK_DAYS = 7


@dataclass(frozen=True)
class Schedule:
    tz: ZoneInfo
    # weekday (0 = Monday) -> [(opens, closes)]
    intervals: dict[int, list[tuple[time, time]]] = field(default_factory=dict)
    one_off: frozenset[date] = frozenset()
    yearly: frozenset[tuple[int, int]] = frozenset()

    def is_holiday(self, day: date) -> bool:
        return day in self.one_off or (day.month, day.day) in self.yearly

    def spans(self, first: date, last: date) -> list[tuple[datetime, datetime]]:
        """The open spans (UTC instants, merged, in order) of the intervals that open on a local
        date from ``first`` to ``last``."""
        out: list[tuple[datetime, datetime]] = []
        day = first
        while day <= last:
            if not self.is_holiday(day):
                for opens, closes in self.intervals.get(day.weekday(), ()):
                    end_day = day + timedelta(days=1) if closes <= opens else day
                    lo = datetime.combine(day, opens, tzinfo=self.tz).astimezone(UTC)
                    hi = datetime.combine(end_day, closes, tzinfo=self.tz).astimezone(UTC)
                    if hi > lo:
                        out.append((lo, hi))
            day += timedelta(days=1)
        out.sort()
        merged: list[tuple[datetime, datetime]] = []
        for lo, hi in out:
            if merged and lo <= merged[-1][1]:
                if hi > merged[-1][1]:
                    merged[-1] = (merged[-1][0], hi)
            else:
                merged.append((lo, hi))
        return merged

    def _local_date(self, at: datetime) -> date:
        return at.astimezone(self.tz).date()

    def is_open(self, at: datetime) -> bool:
        day = self._local_date(at)
        # Yesterday's intervals may run past midnight into today.
        return any(lo <= at < hi for lo, hi in self.spans(day - timedelta(days=1), day))

    def business_seconds(self, start: datetime, end: datetime) -> float:
        if end <= start:
            return 0.0
        first = self._local_date(start) - timedelta(days=1)
        total = 0.0
        for lo, hi in self.spans(first, self._local_date(end)):
            lo, hi = max(lo, start), min(hi, end)
            if hi > lo:
                total += (hi - lo).total_seconds()
        return total

    def _forward(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open spans from ``start`` on (the first one clipped to start), within the horizon."""
        day = self._local_date(start) - timedelta(days=1)
        end_day = day + timedelta(days=HORIZON_DAYS)
        last_hi = start
        while day <= end_day:
            chunk_last = day + timedelta(days=_CHUNK_DAYS - 1)
            for lo, hi in self.spans(day, chunk_last):
                lo = max(lo, last_hi)
                if hi > lo:
                    yield lo, hi
                    last_hi = hi
            day = chunk_last + timedelta(days=1)

    def add_business_seconds(self, start: datetime, seconds: float) -> datetime | None:
        """The first instant at which ``seconds`` of open time have passed since ``start``;
        None when the schedule does not open for that long within the horizon."""
        left = max(0.0, seconds)
        for lo, hi in self._forward(start):
            length = (hi - lo).total_seconds()
            if left <= length:
                return lo + timedelta(seconds=left)
            left -= length
        return None

    def next_opening(self, at: datetime) -> datetime | None:
        """When the channel opens next after ``at`` (``at`` itself when open); None: never."""
        for lo, _hi in self._forward(at):
            return lo
        return None


class AlwaysOpen:
    """The schedule of a channel without business hours: calendar time."""

    tz = UTC

    def is_open(self, at: datetime) -> bool:
        return True

    def business_seconds(self, start: datetime, end: datetime) -> float:
        return max(0.0, (end - start).total_seconds())

    def add_business_seconds(self, start: datetime, seconds: float) -> datetime | None:
        return start + timedelta(seconds=max(0.0, seconds))

    def next_opening(self, at: datetime) -> datetime | None:
        return at


ALWAYS_OPEN = AlwaysOpen()


def _channel_id(channel: Channel | int) -> int:
    return channel if isinstance(channel, int) else channel.pk


def schedules(channel_ids) -> dict[int, Schedule | AlwaysOpen]:
    """The schedule of each channel (three queries however many channels)."""
    ids = set(channel_ids)
    found: dict[int, Schedule | AlwaysOpen] = dict.fromkeys(ids, ALWAYS_OPEN)
    rows = ServiceSettings.objects.filter(channel_id__in=ids, hours_enabled=True).prefetch_related(
        "intervals", "holiday_sets__holidays"
    )
    for row in rows:
        intervals: dict[int, list[tuple[time, time]]] = {}
        for interval in row.intervals.all():
            intervals.setdefault(interval.weekday, []).append((interval.opens, interval.closes))
        holidays = [h for s in row.holiday_sets.all() for h in s.holidays.all()]
        found[row.channel_id] = Schedule(
            tz=ZoneInfo(row.time_zone),
            intervals=intervals,
            one_off=frozenset(h.date for h in holidays if not h.yearly),
            yearly=frozenset((h.date.month, h.date.day) for h in holidays if h.yearly),
        )
    return found


def schedule_for(channel: Channel | int) -> Schedule | AlwaysOpen:
    channel_id = _channel_id(channel)
    return schedules([channel_id])[channel_id]


def is_open(channel: Channel | int, at: datetime) -> bool:
    """Whether the channel is open at the instant ``at``."""
    return schedule_for(channel).is_open(at)


def business_seconds(channel: Channel | int, start: datetime, end: datetime) -> float:
    """Seconds between ``start`` and ``end`` during which the channel is open (0 when ``end`` is
    not after ``start``)."""
    return schedule_for(channel).business_seconds(start, end)


def add_business_seconds(channel: Channel | int, start: datetime, seconds: float):
    return schedule_for(channel).add_business_seconds(start, seconds)


# The onboarding checklist asks for its holidays once per computation, and its pages compute per
# row: the rule is kept per process for ONBOARDING_HOLIDAYS_TTL seconds, and forgotten at once
# when a holiday or a set is saved or deleted in this process (service_levels.apps).
ONBOARDING_HOLIDAYS_TTL = 300.0
_onboarding_rule: list = []  # [(expires at, on the monotonic clock; the rule)]


def onboarding_holiday_rule() -> Callable[[date], bool]:
    """Whether a date is a holiday of a set marked for the onboarding checklist (set as
    onboarding.business_time.holiday_rule)."""
    now = monotonic()
    if _onboarding_rule and _onboarding_rule[0][0] > now:
        return _onboarding_rule[0][1]
    holidays = list(Holiday.objects.filter(holiday_set__for_onboarding=True))
    one_off = frozenset(h.date for h in holidays if not h.yearly)
    yearly = frozenset((h.date.month, h.date.day) for h in holidays if h.yearly)

    def rule(day: date) -> bool:
        return day in one_off or (day.month, day.day) in yearly

    _onboarding_rule[:] = [(now + ONBOARDING_HOLIDAYS_TTL, rule)]
    return rule


def forget_onboarding_holidays(**kwargs) -> None:
    _onboarding_rule.clear()


class SpanIndex:
    """Many ``business_seconds`` questions on one schedule within a known range, answered by
    bisection over the open spans and their running totals (the reports ask one per
    conversation). Instants outside ``[lo, hi]`` are clamped to it."""

    def __init__(self, schedule: Schedule | AlwaysOpen, lo: datetime, hi: datetime):
        self.always = isinstance(schedule, AlwaysOpen)
        self.lo, self.hi = lo, hi
        if self.always:
            return
        first = lo.astimezone(schedule.tz).date() - timedelta(days=1)
        self.spans = schedule.spans(first, hi.astimezone(schedule.tz).date())
        self.starts = [s for s, _e in self.spans]
        self.before: list[float] = []
        total = 0.0
        for s, e in self.spans:
            self.before.append(total)
            total += (e - s).total_seconds()

    def _open_until(self, at: datetime) -> float:
        index = bisect_right(self.starts, at) - 1
        if index < 0:
            return 0.0
        s, e = self.spans[index]
        return self.before[index] + (min(at, e) - s).total_seconds()

    def seconds(self, start: datetime, end: datetime) -> float:
        start, end = max(start, self.lo), min(end, self.hi)
        if end <= start:
            return 0.0
        if self.always:
            return (end - start).total_seconds()
        return self._open_until(end) - self._open_until(start)
