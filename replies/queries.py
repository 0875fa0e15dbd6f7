"""Reads of saved replies: the composer's search, the management page, the closed-window offer.

Each is one query over replies/access.py's visibility filter. See docs/saved-replies.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Case, IntegerField, QuerySet, Value, When
from django.utils.translation import get_language

from channels_app.access import Cap, channels_where, is_admin
from channels_app.models import MessageTemplate
from conversations.services import template_placeholder_count
from replies import access, placeholders
from replies.models import SavedReply

SEARCH_LIMIT = 10
MAX_QUERY = 100
PREVIEW_CHARS = 160


def normalise_query(q: str) -> str:
    """What the composer sends after the "/" (or the picker's box), as the search compares it:
    trimmed, without a leading slash, lower-case, at most MAX_QUERY characters."""
    return q.strip().lstrip("/").strip().lower()[:MAX_QUERY]


def search(user, q: str, *, sees_a_channel: bool | None = None, limit: int = SEARCH_LIMIT):
    """The user's visible saved replies matching ``q`` in shortcut, title or body, best first.

    Order: shortcuts starting with ``q``, then titles containing it, then shortcuts containing
    it, then body matches; within each, replies in the agent's current language (or any) before
    the others, personal before team before global, then by shortcut. One query: the match is
    ``search_text LIKE '%q%'``, which on PostgreSQL the trigram index of migration 0001 serves.
    An empty ``q`` lists the first ``limit`` replies in the same order (the picker).
    """
    q = normalise_query(q)
    replies = access.replies_visible_to(user, sees_a_channel=sees_a_channel)
    rank = Value(0, output_field=IntegerField())
    if q:
        replies = replies.filter(search_text__contains=q)
        rank = Case(
            When(shortcut__startswith=q, then=Value(0)),
            When(title__icontains=q, then=Value(1)),
            When(shortcut__contains=q, then=Value(2)),
            default=Value(3),
            output_field=IntegerField(),
        )
    language = (get_language() or "en").split("-")[0]
    replies = replies.annotate(
        rank=rank,
        other_language=Case(
            When(language__in=["", language], then=Value(0)),
            default=Value(1),
            output_field=IntegerField(),
        ),
        scope_order=Case(
            When(scope=SavedReply.Scope.PERSONAL, then=Value(0)),
            When(scope=SavedReply.Scope.TEAM, then=Value(1)),
            default=Value(2),
            output_field=IntegerField(),
        ),
    ).select_related("team")
    # Only what the composer shows: the sort carries every matching row, so no wide
    # search_text or template columns in it.
    replies = replies.only(
        "id", "title", "shortcut", "body", "scope", "language", "team__id", "team__name"
    )
    return list(
        replies.order_by("rank", "other_language", "scope_order", "shortcut", "pk")[:limit]
    )


def preview(text: str) -> str:
    """The first PREVIEW_CHARS characters of a rendered body, on one line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1].rstrip() + "…"


def search_results(replies, values: placeholders.PlaceholderValues) -> list[dict]:
    """The JSON rows of the composer's search (plain values, no markup)."""
    return [
        {
            "id": reply.pk,
            "title": reply.title,
            "shortcut": reply.shortcut,
            "scope": reply.scope,
            "scope_label": str(reply.get_scope_display()),
            "language": reply.language,
            "preview": preview(placeholders.render(reply.body, values)),
            "body": reply.body,
        }
        for reply in replies
    ]


@dataclass
class ManagePage:
    own: list[SavedReply]
    shared: list[SavedReply]


def manage_page(user) -> ManagePage:
    """The /saved-replies/ page: the user's personal replies, and the team and global ones they
    see (read-only there). One query."""
    rows = list(
        access.replies_visible_to(user, sees_a_channel=True)
        .select_related("team", "template")
        .order_by("title", "pk")
    )
    return ManagePage(
        own=[r for r in rows if r.scope == SavedReply.Scope.PERSONAL],
        shared=[r for r in rows if r.scope != SavedReply.Scope.PERSONAL],
    )


def template_replies(user, conversation, templates: list[MessageTemplate]) -> list[SavedReply]:
    """The saved replies linked to one of ``templates`` (the conversation's channel's sendable
    ones, already loaded) that the user sees, each with ``template`` set from that list and
    ``params``: its parameter lines rendered for this conversation and agent. One query; none
    when there are no templates."""
    if not templates:
        return []
    by_id = {t.pk: t for t in templates}
    replies = list(
        access.replies_visible_to(user, sees_a_channel=True)
        .filter(template_id__in=list(by_id))
        .order_by("title", "pk")
    )
    values = placeholders.PlaceholderValues.of(agent=user, conversation=conversation)
    for reply in replies:
        reply.template = by_id[reply.template_id]
        count = getattr(reply.template, "param_count", None)
        if count is None:
            count = template_placeholder_count(reply.template)
        lines = [placeholders.render(line, values) for line in reply.template_param_lines()]
        reply.params = [
            (i, lines[i - 1] if i <= len(lines) else "") for i in range(1, count + 1)
        ]
        reply.rendered_body = placeholders.render(reply.body, values)
    return replies


def template_choices(user, *, scope: str) -> QuerySet[MessageTemplate]:
    """The templates a saved reply of ``scope`` may link to: sendable ones; for a personal
    reply, only on channels where the user can reply (admins: every channel)."""
    templates = MessageTemplate.objects.filter(status__in=MessageTemplate.SENDABLE)
    if scope == SavedReply.Scope.PERSONAL and not is_admin(user):
        templates = templates.filter(channel__in=channels_where(user, Cap.REPLY).values("pk"))
    return templates.select_related("channel").order_by("channel__display_name", "name", "language")
