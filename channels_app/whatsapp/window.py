"""WhatsApp's customer service window, computed in one place for the desk and the emulator.

Meta: a free-form message may be sent only within 24 hours of the customer's last message; a
template may be sent at any time. The window is open strictly before ``last + 24 h``. The desk
closes its reply box ``margin`` earlier (WHATSAPP_WINDOW_SAFETY_MARGIN), so what the page offers
is never something the provider refuses; the emulator applies the same rule with no margin.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

CUSTOMER_SERVICE_WINDOW = timedelta(hours=24)


def closes_at(last_inbound: datetime | None) -> datetime | None:
    """When the window opened by the customer's message at ``last_inbound`` closes."""
    return None if last_inbound is None else last_inbound + CUSTOMER_SERVICE_WINDOW


def is_open(
    last_inbound: datetime | None, at: datetime, *, margin: timedelta = timedelta(0)
) -> bool:
    """True while a free-form message may be sent at ``at`` (``margin`` before the close)."""
    closes = closes_at(last_inbound)
    return closes is not None and at < closes - margin


def from_timestamp(seconds: float | None) -> datetime | None:
    """A Unix timestamp (the webhook's, the emulator's clock) as an aware UTC datetime."""
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)
