"""Elapsed time that counts only business days (Monday to Friday) in the desk's time zone.

The article's waits ("24-48 hours per approval", "5-10 business days") pause over weekends: a
step that started waiting on Friday evening has used only a few hours by Monday morning. Public
holidays pause them too: the dates of the holiday sets marked "count for the onboarding
checklist" in the service levels' admin (docs/service-levels.md), which set ``holiday_rule``
when they load; without them no date is a holiday. (The hook keeps this app free of an import of
the service levels, which sit above the conversations.)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

from django.utils import timezone

SATURDAY = 5


def _no_holiday(day: date) -> bool:
    return False


def _no_holidays() -> Callable[[date], bool]:
    return _no_holiday


# Returns "is this date a holiday?"; the checklist's callers ask it once per computation and pass
# the answer as ``is_holiday`` (the functions below take none by default: pure date arithmetic).
holiday_rule: Callable[[], Callable[[date], bool]] = _no_holidays


def _business_day(day: date, is_holiday: Callable[[date], bool]) -> bool:
    return day.weekday() < SATURDAY and not is_holiday(day)


def _midnight(day: date, tz) -> datetime:
    # In UTC, because Python subtracts two datetimes of the same zone by wall clock: DST days
    # must keep their true length (23 or 25 hours).
    return datetime.combine(day, time.min, tzinfo=tz).astimezone(UTC)


def business_elapsed(start: datetime, end: datetime, *, tz=None, is_holiday=None) -> timedelta:
    """Real time between ``start`` and ``end`` that falls on Monday to Friday (local dates),
    holidays excepted.

    Zero when ``end`` is not after ``start``. Weekdays are judged in ``tz`` (default: the
    current time zone, settings.TIME_ZONE unless activated otherwise).
    """
    if end <= start:
        return timedelta(0)
    tz = tz or timezone.get_current_timezone()
    is_holiday = is_holiday or _no_holiday
    total = timedelta(0)
    day, last = start.astimezone(tz).date(), end.astimezone(tz).date()
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    while day <= last:
        if _business_day(day, is_holiday):
            lo = max(start, _midnight(day, tz))
            hi = min(end, _midnight(day + timedelta(days=1), tz))
            if hi > lo:
                total += hi - lo
        day += timedelta(days=1)
    return total


def add_business_time(
    start: datetime, amount: timedelta, *, tz=None, is_holiday=None
) -> datetime:
    """The first moment at which ``business_elapsed(start, moment) == amount``."""
    tz = tz or timezone.get_current_timezone()
    is_holiday = is_holiday or _no_holiday
    moment = start.astimezone(UTC)
    left = amount
    while True:
        day = moment.astimezone(tz).date()
        next_midnight = _midnight(day + timedelta(days=1), tz)
        if _business_day(day, is_holiday):
            if moment + left <= next_midnight:
                return moment + left
            left -= next_midnight - moment
        moment = next_midnight
