"""The reports' figures: the period a report covers and the plain dataclasses it returns.

Computed by ``reports.build.build_report``; rendered by the view, the charts and the ``report``
command. See docs/reports.md for every definition.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo

from django.utils.translation import gettext_lazy as _

# A report spans at most this many days (a leap year): the daily tables and charts stay small.
MAX_DAYS = 366
PERCENTILES = (50, 90)


# --- the period ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Whole days ``first``..``last`` (inclusive) in ``tz``."""

    first: date
    last: date
    tz: tzinfo

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time.min, tzinfo=self.tz)

    @property
    def end(self) -> datetime:
        """Exclusive: midnight after the last day (23 or 25 hours later on a DST change day)."""
        return datetime.combine(self.last + timedelta(days=1), time.min, tzinfo=self.tz)

    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]


# --- the result ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Duration:
    """A time in seconds that prints itself for people ("2 h 05 min"); None prints a dash."""

    seconds: float | None

    def __bool__(self) -> bool:
        return self.seconds is not None

    def __str__(self) -> str:
        return format_duration(self.seconds)


@dataclass(frozen=True)
class Spread:
    """Median and 90th percentile of a set of durations, and how many there were."""

    count: int = 0
    median: Duration = field(default_factory=lambda: Duration(None))
    p90: Duration = field(default_factory=lambda: Duration(None))


@dataclass(frozen=True)
class Queue:
    status: str
    label: str
    size: int
    oldest_age: Duration


@dataclass(frozen=True)
class Day:
    day: date
    opened: int = 0
    resolved: int = 0
    messages_in: int = 0
    messages_out: int = 0
    first_response_median: Duration = field(default_factory=lambda: Duration(None))


@dataclass(frozen=True)
class AgentRow:
    user_id: int
    name: str
    replies: int = 0
    outside_window: int = 0
    resolved: int = 0
    first_responses: int = 0
    first_response_median: Duration = field(default_factory=lambda: Duration(None))


@dataclass(frozen=True)
class LabelRow:
    """One tag or topic: conversations opened in the period that carry it."""

    id: int
    name: str
    opened: int
    resolved: int
    first_response_median: Duration


@dataclass(frozen=True)
class Summary:
    opened: int
    resolved: int
    resolved_by_agents: int
    resolved_automatically: int
    reopened: int
    messages_in: int
    messages_out: int
    outside_window: int
    first_response: Spread
    resolution: Spread


@dataclass(frozen=True)
class Report:
    period: Period
    now: datetime
    summary: Summary
    queues: list[Queue]
    daily: list[Day]
    agents: list[AgentRow]
    tags: list[LabelRow]
    topics: list[LabelRow]

    def as_dict(self) -> dict:
        """Plain JSON-ready data (durations in seconds), for ``manage.py report --json``."""

        def plain(value):
            if isinstance(value, dict):
                if set(value) == {"seconds"}:
                    return value["seconds"]
                return {k: plain(v) for k, v in value.items()}
            if isinstance(value, list):
                return [plain(v) for v in value]
            if isinstance(value, date):
                return value.isoformat()
            return value

        return {
            "from": self.period.first.isoformat(),
            "to": self.period.last.isoformat(),
            "time_zone": str(self.period.tz),
            "now": self.now.isoformat(),
            "summary": plain(asdict(self.summary)),
            "queues": [
                {"status": q.status, "size": q.size, "oldest_age": q.oldest_age.seconds}
                for q in self.queues
            ],
            "daily": plain([asdict(d) for d in self.daily]),
            "agents": plain([asdict(a) for a in self.agents]),
            "tags": plain([asdict(t) for t in self.tags]),
            "topics": plain([asdict(t) for t in self.topics]),
        }


def format_duration(seconds: float | None) -> str:
    """ "45 s", "12 min", "3 h 05 min", "2 d 4 h"; a dash when there is nothing to measure."""
    if seconds is None:
        return "–"
    total = round(seconds)
    if total < 60:
        return _("%(s)d s") % {"s": total}
    minutes, _s = divmod(total, 60)
    if minutes < 60:
        return _("%(m)d min") % {"m": minutes}
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return _("%(h)d h %(m)02d min") % {"h": hours, "m": minutes}
    days, hours = divmod(hours, 24)
    return _("%(d)d d %(h)d h") % {"d": days, "h": hours}


# --- SQL building blocks -------------------------------------------------------------------
# The raw SQL below is assembled only from identifiers and constants of this module and from
# querysets compiled by Django; every value a user supplies travels as a query parameter.
