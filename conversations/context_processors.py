"""What the agent pages' top bar needs on every page (templates/base.html)."""

from __future__ import annotations

from channels_app import access


def top_bar(request) -> dict:
    """``nav_reports``: whether to link the reports page, as the access module decides.

    A callable, so that the template asks (and a query runs) only on pages that show the top
    bar, and not at all when a view already knew (queries.inbox_channels remembers it).
    """

    def nav_reports() -> bool:
        return access.sees_reports(request.user)

    return {"nav_reports": nav_reports}
