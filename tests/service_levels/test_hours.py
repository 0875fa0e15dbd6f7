"""is_open and business_seconds: both sides of both daylight-saving changes in Europe/Berlin and
America/New_York, holidays (one-off and yearly, shared sets), intervals across midnight."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from service_levels import hours
from service_levels.hours import business_seconds, is_open
from tests.factories import ChannelFactory
from tests.service_levels.conftest import (
    HolidayFactory,
    HolidaySetFactory,
    ServiceSettingsFactory,
    hours_of,
    local,
    utc,
)

H = 3600.0

# 2026: Berlin springs forward on Sunday 29 March (02:00 -> 03:00) and falls back on Sunday
# 25 October (03:00 -> 02:00); New York on Sunday 8 March and Sunday 1 November.


@pytest.mark.parametrize(
    ("zone", "friday", "monday", "before_utc", "after_utc"),
    [
        # spring forward: 09:00 on Friday is 08:00 UTC (CET), on Monday 07:00 UTC (CEST)
        ("Europe/Berlin", "2026-03-27", "2026-03-30", "2026-03-27 08:00", "2026-03-30 07:00"),
        # fall back: 09:00 on Friday is 07:00 UTC (CEST), on Monday 08:00 UTC (CET)
        ("Europe/Berlin", "2026-10-23", "2026-10-26", "2026-10-23 07:00", "2026-10-26 08:00"),
        # New York: EST -5 before 8 March, EDT -4 after; EDT before 1 November, EST after
        ("America/New_York", "2026-03-06", "2026-03-09", "2026-03-06 14:00", "2026-03-09 13:00"),
        ("America/New_York", "2026-10-30", "2026-11-02", "2026-10-30 13:00", "2026-11-02 14:00"),
    ],
)
def test_opening_follows_the_wall_clock_on_both_sides_of_a_change(
    db, berlin, new_york, zone, friday, monday, before_utc, after_utc
):
    channel = berlin if zone == "Europe/Berlin" else new_york
    for opening in (utc(before_utc), utc(after_utc)):
        assert is_open(channel, opening)
        assert not is_open(channel, opening - timedelta(seconds=1))
        assert is_open(channel, opening + timedelta(hours=8) - timedelta(seconds=1))
        assert not is_open(channel, opening + timedelta(hours=8))
    # Friday 16:00 to Monday 10:00 (local) over the weekend of the change: one hour each side.
    start, end = local(zone, f"{friday} 16:00"), local(zone, f"{monday} 10:00")
    assert business_seconds(channel, start, end) == 2 * H
    assert hours.add_business_seconds(channel, start, 2 * H) == end


@pytest.mark.parametrize(
    ("zone", "sunday", "real_hours"),
    [
        ("Europe/Berlin", "2026-03-29", 3),  # 01:00-05:00 loses the hour 02:00-03:00
        ("Europe/Berlin", "2026-10-25", 5),  # 02:00-03:00 happens twice
        ("America/New_York", "2026-03-08", 3),
        ("America/New_York", "2026-11-01", 5),
    ],
)
def test_an_interval_over_the_change_counts_its_real_length(db, zone, sunday, real_hours):
    channel = hours_of(ServiceSettingsFactory(time_zone=zone), {6: ["01:00-05:00"]}).channel
    day_start, day_end = local(zone, f"{sunday} 00:00"), local(zone, f"{sunday} 23:00")
    assert business_seconds(channel, day_start, day_end) == real_hours * H
    assert is_open(channel, local(zone, f"{sunday} 04:59"))
    assert not is_open(channel, local(zone, f"{sunday} 05:00"))


def test_a_day_of_the_change_has_its_real_length_in_an_all_day_interval(db):
    channel = hours_of(
        ServiceSettingsFactory(time_zone="Europe/Berlin"), {6: ["00:00-00:00"]}
    ).channel
    sat = local("Europe/Berlin", "2026-03-28 12:00")
    assert business_seconds(channel, sat, sat + timedelta(days=2)) == 23 * H
    sat = local("Europe/Berlin", "2026-10-24 12:00")
    assert business_seconds(channel, sat, sat + timedelta(days=2)) == 25 * H


def test_holidays_close_the_day_one_off_and_yearly_from_shared_sets(db):
    germany = HolidaySetFactory(name="Germany")
    HolidayFactory(holiday_set=germany, name="Good Friday", date=date(2026, 4, 3))
    HolidayFactory(holiday_set=germany, name="Christmas", date=date(2000, 12, 25), yearly=True)
    first = hours_of(ServiceSettingsFactory(), {d: ["09:00-17:00"] for d in range(5)})
    second = hours_of(ServiceSettingsFactory(), {d: ["09:00-17:00"] for d in range(5)})
    first.holiday_sets.add(germany)
    second.holiday_sets.add(germany)
    for row in (first, second):
        channel = row.channel
        assert not is_open(channel, local("Europe/Berlin", "2026-04-03 10:00"))  # Good Friday
        assert is_open(channel, local("Europe/Berlin", "2027-04-03 10:00") - timedelta(days=1))
        assert not is_open(channel, local("Europe/Berlin", "2026-12-25 10:00"))  # a Friday
        assert not is_open(channel, local("Europe/Berlin", "2028-12-25 10:00"))  # a Monday
        # Thursday 16:00 before Good Friday to Monday 10:00: one hour each side of the holiday
        # and the weekend.
        start = local("Europe/Berlin", "2026-04-02 16:00")
        end = local("Europe/Berlin", "2026-04-06 10:00")
        assert business_seconds(channel, start, end) == 2 * H
    other = hours_of(ServiceSettingsFactory(), {4: ["09:00-17:00"]}).channel
    assert is_open(other, local("Europe/Berlin", "2026-04-03 10:00"))  # not in the set


def test_an_interval_crossing_midnight_belongs_to_the_day_it_opens(db):
    row = hours_of(ServiceSettingsFactory(time_zone="America/New_York"), {5: ["22:00-02:00"]})
    channel = row.channel
    z = "America/New_York"
    assert is_open(channel, local(z, "2026-05-02 23:59"))  # Saturday
    assert is_open(channel, local(z, "2026-05-03 01:59"))  # Sunday morning, Saturday's shift
    assert not is_open(channel, local(z, "2026-05-03 02:00"))
    assert not is_open(channel, local(z, "2026-05-03 23:00"))  # Sunday night: no shift
    start, end = local(z, "2026-05-02 23:00"), local(z, "2026-05-03 12:00")
    assert business_seconds(channel, start, end) == 3 * H
    # A holiday on the Saturday closes the whole shift; one on the Sunday does not.
    holidays = HolidaySetFactory()
    row.holiday_sets.add(holidays)
    HolidayFactory(holiday_set=holidays, date=date(2026, 5, 3))
    assert business_seconds(channel, start, end) == 3 * H
    HolidayFactory(holiday_set=holidays, date=date(2026, 5, 2))
    assert business_seconds(channel, start, end) == 0
    assert not is_open(channel, local(z, "2026-05-03 01:00"))


def test_a_shift_crossing_midnight_on_the_night_of_the_change(db):
    channel = hours_of(
        ServiceSettingsFactory(time_zone="Europe/Berlin"), {5: ["22:00-06:00"]}
    ).channel
    # Saturday 28 March 22:00 CET to Sunday 06:00 CEST: 7 real hours; in October 9.
    start = local("Europe/Berlin", "2026-03-28 12:00")
    assert business_seconds(channel, start, start + timedelta(days=1)) == 7 * H
    start = local("Europe/Berlin", "2026-10-24 12:00")
    assert business_seconds(channel, start, start + timedelta(days=1)) == 9 * H


def test_a_channel_without_business_hours_is_always_open(db):
    channel = ChannelFactory()
    start = utc("2026-03-28 12:00")
    assert is_open(channel, start)
    assert business_seconds(channel, start, start + timedelta(days=2)) == 48 * H
    switched_off = ServiceSettingsFactory(hours_enabled=False).channel
    assert is_open(switched_off, start)
    assert business_seconds(switched_off.pk, start, start + timedelta(hours=1)) == H


def test_reversed_range_is_zero_and_a_schedule_that_never_opens_is_never_due(db):
    channel = ServiceSettingsFactory().channel  # hours on, no interval at all
    start = utc("2026-03-28 12:00")
    assert not is_open(channel, start)
    assert business_seconds(channel, start, start - timedelta(hours=1)) == 0
    assert hours.add_business_seconds(channel, start, 60) is None
    assert hours.schedule_for(channel).next_opening(start) is None
