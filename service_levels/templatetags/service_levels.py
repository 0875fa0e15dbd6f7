"""``{% sla_state c %}``: a conversation's next SLA due time and its window deadline, on the
inbox row and the conversation page.

The first call of a render loads the state of every row of the page at once (``page.rows`` in
the context: one query for the whole list); rows rendered on their own (live pushes) are loaded
together beforehand by ``preload``. Nothing is shown for a conversation without a running clock.
"""

from __future__ import annotations

from django import template
from django.template.loader import render_to_string
from django.utils import timezone

from service_levels import sla

register = template.Library()
_ATTR = "_sla_state"


def _states(context, conversation) -> dict:
    """The state of ``conversation``, loading every open row of the page's list on the first
    call and keeping each on its row object (an include renders with a fresh render context, so
    the rows themselves carry it)."""
    if not hasattr(conversation, _ATTR):
        page = context.get("page")
        rows = [r for r in (getattr(page, "rows", None) or []) if getattr(r, "is_open", False)]
        if conversation not in rows:
            rows.append(conversation)
        found = sla.next_due({r.pk for r in rows})
        for row in rows:
            setattr(row, _ATTR, found.get(row.pk) or {})
    return getattr(conversation, _ATTR)


def preload(rows) -> None:
    """Load the state of every open conversation in ``rows`` at once (one query), for rows
    rendered outside a page's list, e.g. the live pushes' rows (realtime/rows.py): without it
    each row's ``{% sla_state %}`` would cost a query of its own."""
    found = sla.next_due({r.pk for r in rows if getattr(r, "is_open", False)})
    for row in rows:
        setattr(row, _ATTR, found.get(row.pk) or {})


@register.simple_tag(takes_context=True)
def sla_state(context, conversation) -> str:
    if not getattr(conversation, "is_open", False):
        return ""
    state = _states(context, conversation)
    if not state:
        return ""
    now = context.get("now") or timezone.now()
    due_at = state.get("due_at")
    return render_to_string(
        "service_levels/_sla_state.html",
        {
            "due_at": due_at,
            "kind": state.get("kind"),
            "overdue": state.get("breached") or (due_at is not None and due_at <= now),
            "window_alert": state.get("window_alert"),
            "window_closes_at": state.get("window_closes_at"),
        },
    )
