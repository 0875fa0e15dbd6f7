"""The top bar's routing parts (templates/base.html): the agent's availability and whether to
link the monitor. Callables, so the template asks (and a query runs) only where it shows them."""

from __future__ import annotations

from channels_app import access
from routing import presence
from routing.models import Availability


def top_bar(request) -> dict:
    user = request.user

    remembered: list[str] = []

    def my_availability() -> str:
        # The template asks several times (the switch and each option): one query a page.
        if not remembered:
            remembered.append(presence.availability_of(user) if user.is_authenticated else "")
        return remembered[0]

    def nav_monitor() -> bool:
        # Cap.MONITOR and Cap.REPORTS both need a Supervisor role: sees_reports() answers for
        # both, remembered for the request, so the link costs no extra query.
        return access.role_allows(access.Role.SUPERVISOR, access.Cap.MONITOR) and (
            access.sees_reports(user)
        )

    return {
        "my_availability": my_availability,
        "availability_choices": Availability.choices,
        "nav_monitor": nav_monitor,
    }
