"""Routing's conversation timers, applied by the wake sweep (beat, every ``ROUTING_WAKE_EVERY_S``
= 15 s): snoozed conversations whose time came, and each push-or-not channel's Pending
boomerang (``ChannelRouting.pending_boomerang_after``). The moves themselves are
conversations.services.snooze's set-based batches; this module only says which channels and
how many per batch. And the snooze menu's times, in the agent's own time zone.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from django.conf import settings

from channels_app.models import Profile
from conversations.services import snooze
from routing.models import ChannelRouting

# The snooze menu: value -> offset (None: computed, see until_for).
PRESETS = {"15m": timedelta(minutes=15), "1h": timedelta(hours=1), "4h": timedelta(hours=4)}
TOMORROW = "tomorrow"
TOMORROW_AT = time(9, 0)


@dataclass
class Summary:
    woken: list[int] = field(default_factory=list)
    boomeranged: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"woken": len(self.woken), "boomeranged": len(self.boomeranged)}


def wake(*, now: datetime, batch_size: int | None = None) -> Summary:
    batch_size = batch_size or settings.ROUTING_WAKE_BATCH
    ages = dict(
        ChannelRouting.objects.filter(
            pending_boomerang_after__isnull=False, channel__is_active=True
        ).values_list("channel_id", "pending_boomerang_after")
    )
    return Summary(
        woken=snooze.wake_due(now=now, batch_size=batch_size),
        boomeranged=snooze.boomerang_pending(channel_ages=ages, now=now, batch_size=batch_size),
    )


def user_zone(user) -> zoneinfo.ZoneInfo:
    name = Profile.objects.filter(user=user).values_list("time_zone", flat=True).first()
    try:
        return zoneinfo.ZoneInfo(name or settings.TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def until_for(choice: str, *, user, now: datetime) -> datetime | None:
    """The time a menu choice means for this agent now; None for an unknown choice. "Tomorrow"
    is 9:00 of the next day in the agent's time zone (their profile), whatever DST does."""
    if choice in PRESETS:
        return now + PRESETS[choice]
    if choice == TOMORROW:
        zone = user_zone(user)
        local = now.astimezone(zone)
        return datetime.combine(local.date() + timedelta(days=1), TOMORROW_AT, tzinfo=zone)
    return None
