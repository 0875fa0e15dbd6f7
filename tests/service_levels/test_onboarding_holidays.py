"""The onboarding checklist's business days skip the holidays of the sets marked for it (the
same holiday sets the channels use), and only those."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from onboarding import business_time
from service_levels import hours
from tests.service_levels.conftest import HolidayFactory, HolidaySetFactory

# Thursday 2 April 2026, 18:00 UTC; Good Friday is 3 April, Easter Monday 6 April.
THURSDAY_EVENING = datetime(2026, 4, 2, 18, 0, tzinfo=UTC)


def elapsed(start, end, **kwargs):
    # As the checklist's models ask: the rule the service levels set, read once per computation.
    return business_time.business_elapsed(
        start, end, is_holiday=business_time.holiday_rule(), **kwargs
    )


def add(start, amount, **kwargs):
    return business_time.add_business_time(
        start, amount, is_holiday=business_time.holiday_rule(), **kwargs
    )


@pytest.fixture(autouse=True)
def _fresh_rule():
    hours.forget_onboarding_holidays()
    yield
    hours.forget_onboarding_holidays()  # a rolled-back set must not stay cached


def test_marked_holidays_pause_the_onboarding_waits(db):
    # Without holidays: Friday counts as a business day.
    assert elapsed(THURSDAY_EVENING, THURSDAY_EVENING + timedelta(days=5), tz=UTC) == (
        timedelta(hours=6 + 24 + 24 + 18)  # Thu evening, Fri, Mon, Tue until 18:00
    )
    germany = HolidaySetFactory(name="Germany", for_onboarding=True)
    HolidayFactory(holiday_set=germany, name="Good Friday", date=date(2026, 4, 3))
    HolidayFactory(holiday_set=germany, name="Easter Monday", date=date(2026, 4, 6))
    assert elapsed(THURSDAY_EVENING, THURSDAY_EVENING + timedelta(days=5), tz=UTC) == (
        timedelta(hours=6 + 18)  # Thursday evening and Tuesday until 18:00
    )
    # 24 business hours from Thursday 18:00: 6 on Thursday, then Tuesday until 18:00.
    assert add(THURSDAY_EVENING, timedelta(hours=24), tz=UTC) == datetime(
        2026, 4, 7, 18, 0, tzinfo=UTC
    )


def test_sets_not_marked_for_the_checklist_do_not_count(db):
    team = HolidaySetFactory(name="Team days", for_onboarding=False)
    HolidayFactory(holiday_set=team, date=date(2026, 4, 3))
    assert elapsed(THURSDAY_EVENING, THURSDAY_EVENING + timedelta(days=1), tz=UTC) == (
        timedelta(hours=24)
    )


def test_a_yearly_holiday_counts_every_year(db):
    HolidayFactory(
        holiday_set=HolidaySetFactory(for_onboarding=True), date=date(2000, 12, 25), yearly=True
    )
    christmas_eve = datetime(2026, 12, 24, 0, 0, tzinfo=UTC)  # a Thursday
    assert elapsed(christmas_eve, christmas_eve + timedelta(days=2), tz=UTC) == (
        timedelta(hours=24)
    )
