"""Factories and helpers of the service-levels tests (business hours as local times)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import factory
import pytest

from service_levels.models import (
    BusinessInterval,
    Holiday,
    HolidaySet,
    ServiceSettings,
    SlaPolicy,
)
from tests.factories import ChannelFactory


class HolidaySetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = HolidaySet

    name = factory.Sequence(lambda n: f"Holidays {n}")


class HolidayFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Holiday

    holiday_set = factory.SubFactory(HolidaySetFactory)
    name = "Holiday"


class ServiceSettingsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ServiceSettings

    channel = factory.SubFactory(ChannelFactory)
    time_zone = "Europe/Berlin"


class SlaPolicyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SlaPolicy

    channel = factory.SubFactory(ChannelFactory)


def hours_of(settings_row: ServiceSettings, spec: dict[int, list[str]]) -> ServiceSettings:
    """spec: {weekday: ["09:00-17:00", ...]}"""
    for weekday, spans in spec.items():
        for span in spans:
            opens, closes = (time.fromisoformat(t) for t in span.split("-"))
            BusinessInterval.objects.create(
                settings=settings_row, weekday=weekday, opens=opens, closes=closes
            )
    return settings_row


WEEKDAYS_9_TO_5 = {d: ["09:00-17:00"] for d in range(5)}


def local(zone: str, text: str) -> datetime:
    """A wall-clock time in ``zone`` as an aware instant (fold 0)."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone))


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def berlin(db):
    row = ServiceSettingsFactory(time_zone="Europe/Berlin")
    return hours_of(row, WEEKDAYS_9_TO_5).channel


@pytest.fixture
def new_york(db):
    row = ServiceSettingsFactory(time_zone="America/New_York")
    return hours_of(row, WEEKDAYS_9_TO_5).channel
