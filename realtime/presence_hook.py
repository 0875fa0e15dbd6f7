"""The one place the live socket tells routing (issue 17) about an agent's pages.

routing.presence owns Available / Away / Offline; the socket only reports: a page opened, a
page closed, a heartbeat (``seen``), and the agent did something in the page (``activity``).
Without the routing app installed these are no-ops.
"""

from __future__ import annotations

import logging
from functools import wraps

from django.apps import apps

try:
    from routing import presence as _presence
except (ImportError, RuntimeError):  # routing absent, or present but not installed
    _presence = None


log = logging.getLogger(__name__)


def _guarded(report):
    """A failing presence report is logged; it never closes the agent's socket."""

    @wraps(report)
    def call(user) -> None:
        try:
            report(user)
        except Exception:
            log.exception("presence report %s for user %s failed", report.__name__, user.pk)

    return call


def _routing():
    if _presence is None or not apps.is_installed("routing"):
        return None
    return _presence


@_guarded
def page_opened(user) -> None:
    if (routing := _routing()) is not None:
        routing.page_opened(user)


@_guarded
def page_closed(user) -> None:
    if (routing := _routing()) is not None:
        routing.page_closed(user)


@_guarded
def heartbeat(user) -> None:
    """The page is still open (no sign of the agent doing anything)."""
    if (routing := _routing()) is not None:
        (getattr(routing, "seen", None) or (lambda _user: None))(user)


@_guarded
def activity(user) -> None:
    """The agent typed, clicked or opened something in a page."""
    if (routing := _routing()) is not None:
        routing.activity(user)
