"""Reads for the agent pages: the inbox and the conversation page.

Every function returns fully shaped querysets or plain data, so views only slice and render, and
each page costs a constant number of queries whatever the data size (pinned in
tests/conversations/test_views_*.py). Visibility always comes from channels_app.access.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth import get_user_model
from django.core.exceptions import EmptyResultSet
from django.db import connection, connections
from django.db.models import BooleanField, CharField, Count, F, Func, Q, QuerySet, Value
from django.db.models.expressions import RawSQL
from django.utils.dateparse import parse_datetime

from channels_app.access import channels_visible_to
from channels_app.models import Channel, MessageTemplate
from conversations.models import Contact, Conversation, Message, Tag, Topic

# Message-text search stops after this many matching messages (newest conversations first is
# not guaranteed beyond it); see docs/conversation-lifecycle.md, "Search".
SEARCH_MESSAGE_CAP = 500
SEARCH_CONTACT_CAP = 500
# Queue counts stop here (shown as "10,000+"); see queue_counts.
COUNT_CAP = 10_000
HISTORY_LIMIT = 20
EVENT_LIMIT = 200
ASSIGNABLE_LIMIT = 200

ASSIGNEE_ME = "me"
ASSIGNEE_NONE = "unassigned"


@dataclass(frozen=True)
class InboxFilters:
    """What the agent picked in the inbox; empty values mean "any"."""

    status: str = Conversation.Status.NEW
    channel: Channel | None = None
    assignee: str = ""  # "me", "unassigned" or "" (anyone)
    tag: Tag | None = None
    topic: Topic | None = None
    q: str = ""


@dataclass(frozen=True)
class Cursor:
    """Keyset position: the last row of the previous page (newest activity first)."""

    last_activity_at: datetime
    id: int

    def encode(self) -> str:
        return f"{self.last_activity_at.isoformat()}~{self.id}"

    @classmethod
    def decode(cls, raw: str | None) -> Cursor | None:
        """A cursor from the query string, or None when absent or malformed."""
        if not raw or "~" not in raw:
            return None
        stamp, _sep, pk = raw.rpartition("~")
        try:
            at = parse_datetime(stamp)
            number = int(pk)
        except (ValueError, TypeError):
            return None
        if at is None or at.tzinfo is None:
            return None
        return cls(at, number)


@dataclass
class InboxPage:
    rows: list[Conversation]
    next_cursor: Cursor | None
    counts: dict[str, int] = field(default_factory=dict)


def inbox_channels(user) -> list[Channel]:
    """The channels for the inbox picker: visible to ``user`` and active, by display name.

    One query; each channel carries the user's ``effective_role``.
    """
    return list(channels_visible_to(user).filter(is_active=True).order_by("display_name", "id"))


class _BodyMatches(Func):
    """PostgreSQL full-text match of message text, shaped to use the ``msg_body_fts`` GIN index.

    Renders ``to_tsvector('simple', body) @@ plainto_tsquery('simple', %s)``: the 'simple'
    configuration (no stemming) suits a mix of languages and matches whole words.
    """

    template = "to_tsvector('simple'::regconfig, %(expressions)s)"
    arg_joiner = ") @@ plainto_tsquery('simple'::regconfig, "
    output_field = BooleanField()


def _matching_conversation_ids(q: str, channel_ids: list[int]) -> QuerySet:
    messages = Message.objects.filter(channel_id__in=channel_ids)
    if connection.vendor == "postgresql":
        messages = messages.filter(_BodyMatches(F("body"), Value(q, output_field=CharField())))
    else:
        # The embedded SQLite default: a plain scan, capped like the PostgreSQL path.
        messages = messages.filter(body__icontains=q)
    return messages.order_by().values("conversation_id")[:SEARCH_MESSAGE_CAP]


def _matching_contact_ids(q: str) -> QuerySet:
    digits = "".join(ch for ch in q if ch.isdigit())
    match = Q(profile_name__icontains=q)
    if len(digits) >= 3:
        # The number is the WhatsApp ID (the phone field is "+" and the same digits).
        match |= Q(wa_id__contains=digits)
    return Contact.objects.filter(match).order_by().values("pk")[:SEARCH_CONTACT_CAP]


def _search(qs: QuerySet, q: str, channel_ids: list[int]) -> QuerySet:
    # One id set, the UNION of two capped subqueries (conversations of matching contacts,
    # conversations of matching messages), under a single ``id IN (...)``: PostgreSQL turns
    # that into a semi-join on the primary key (at most ~1,000 lookups). Two subqueries joined
    # by OR cannot be a join, so the planner scanned every visible conversation instead (one
    # whole pass per page at 1M conversations; bench/pages.py).
    if not channel_ids:
        return qs.none()
    by_contact = (
        Conversation.objects.filter(contact_id__in=_matching_contact_ids(q))
        .order_by()
        .values("pk")
    )
    parts, params = [], []
    for ids in (by_contact, _matching_conversation_ids(q, channel_ids)):
        sql, sub_params = ids.query.sql_with_params()
        parts.append(f"SELECT * FROM ({sql}) AS search_{len(parts)}")  # noqa: S608
        params.extend(sub_params)
    # Django-compiled SQL; every value in it stays a bound parameter.
    return qs.filter(pk__in=RawSQL(" UNION ".join(parts), params))  # noqa: S611


def inbox_for(user, filters: InboxFilters, *, channels: list[Channel]) -> QuerySet:
    """Conversations in ``channels`` (already the user's visible, active ones) matching the
    filters in every respect but the status; newest activity first.

    ``channels`` is passed in, not recomputed, so the page evaluates visibility once.
    """
    channel_ids = [c.pk for c in channels]
    if filters.channel is not None:
        channel_ids = [pk for pk in channel_ids if pk == filters.channel.pk]
    qs = Conversation.objects.filter(channel_id__in=channel_ids)
    if filters.assignee == ASSIGNEE_ME:
        qs = qs.filter(assignee=user)
    elif filters.assignee == ASSIGNEE_NONE:
        qs = qs.filter(assignee__isnull=True)
    if filters.tag is not None:
        qs = qs.filter(tags=filters.tag)
    if filters.topic is not None:
        qs = qs.filter(topics=filters.topic)
    if filters.q:
        qs = _search(qs, filters.q, channel_ids)
    return qs


def queue_counts(qs: QuerySet, *, cap: int | None = COUNT_CAP) -> dict[str, int]:
    """How many conversations of ``qs`` sit in each queue, each counted up to ``cap``; one query.

    The Resolved queue only ever grows, so an exact count would scan every conversation a user
    can see on every refresh. Each queue is counted over ``LIMIT cap`` rows of its own index
    range instead, and the page shows "10,000+" at the cap. ``cap=None`` counts exactly in one
    pass, which is cheaper for a search (whose matches are bounded) than three capped passes.
    """
    if cap is None:
        return qs.order_by().aggregate(
            **{s: Count("pk", filter=Q(status=s)) for s in Conversation.Status.values}
        )
    connection_ = connections[qs.db]
    parts, params = [], []
    for status in Conversation.Status.values:
        try:
            sql, sub_params = (
                qs.filter(status=status).order_by().values("pk")[:cap].query.sql_with_params()
            )
        except EmptyResultSet:  # e.g. no visible channel: nothing to count, no query to run
            return dict.fromkeys(Conversation.Status.values, 0)
        # Django-compiled SQL; every value in it stays a bound parameter.
        parts.append(f"(SELECT COUNT(*) FROM ({sql}) AS queue_{status})")  # noqa: S608
        params.extend(sub_params)
    with connection_.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts), params)
        row = cursor.fetchone()
    return dict(zip(Conversation.Status.values, row, strict=True))


def inbox_page(
    qs: QuerySet, *, status: str, cursor: Cursor | None, size: int
) -> InboxPage:
    """One page of a queue with keyset pagination (two queries: rows, then their tags).

    The cursor is (last_activity_at, id) of the previous page's last row, matching the
    ``conv_inbox`` index order, so deep pages cost the same as the first.
    """
    qs = qs.filter(status=status)
    if cursor is not None:
        qs = qs.filter(
            Q(last_activity_at__lt=cursor.last_activity_at)
            | Q(last_activity_at=cursor.last_activity_at, id__lt=cursor.id)
        )
    rows = list(
        qs.select_related("channel", "contact", "assignee")
        .prefetch_related("tags")
        .order_by("-last_activity_at", "-id")[: size + 1]
    )
    next_cursor = None
    if len(rows) > size:
        rows = rows[:size]
        next_cursor = Cursor(rows[-1].last_activity_at, rows[-1].pk)
    return InboxPage(rows=rows, next_cursor=next_cursor)


def all_tags() -> list[Tag]:
    return list(Tag.objects.order_by("name"))


def all_topics() -> list[Topic]:
    return list(Topic.objects.order_by("name"))


# --- the conversation page ---------------------------------------------------------------------


@dataclass
class TimelineItem:
    kind: str  # "message" or "note"
    at: datetime
    obj: object


def timeline(conversation: Conversation) -> list[TimelineItem]:
    """Messages and internal notes interleaved by time (two queries, whatever the length)."""
    messages = (
        conversation.messages.select_related("author", "template").order_by("created_at", "id")
    )
    notes = conversation.notes.select_related("author").order_by("created_at", "id")
    return list(
        heapq.merge(
            (TimelineItem("message", m.created_at, m) for m in messages),
            (TimelineItem("note", n.created_at, n) for n in notes),
            key=lambda item: item.at,
        )
    )


def events(conversation: Conversation) -> list:
    """The latest history rows, oldest first, with their actors (one query)."""
    latest = list(
        conversation.events.select_related("actor").order_by("-created_at", "-id")[:EVENT_LIMIT]
    )
    latest.reverse()
    return latest


def contact_history(conversation: Conversation, user) -> list[Conversation]:
    """The contact's other conversations on channels the user can see, newest first."""
    return list(
        Conversation.objects.filter(
            contact_id=conversation.contact_id, channel__in=channels_visible_to(user)
        )
        .exclude(pk=conversation.pk)
        .select_related("channel")
        .order_by("-opened_at")[:HISTORY_LIMIT]
    )


def sendable_templates(channel: Channel) -> list[MessageTemplate]:
    """The channel's templates Meta accepts sends of, each with ``param_count`` set."""
    from conversations.services import template_placeholder_count

    templates = list(
        MessageTemplate.objects.filter(
            channel=channel, status__in=MessageTemplate.SENDABLE
        ).order_by("name", "language")
    )
    for template in templates:
        template.param_count = template_placeholder_count(template)
        template.param_range = range(1, template.param_count + 1)
    return templates


def assignable_users(channel: Channel) -> list:
    """Candidates for the assign picker: active users who may hold access to the channel.

    A courtesy list for the form (one query). It follows the grant sources of
    channels_app.access (direct, team, All Users, All Teams, admins); the assign service checks
    every pick again through the access module, so a candidate here never bypasses it.
    """
    User = get_user_model()
    qs = User.objects.filter(is_active=True)
    if not channel.all_users_enabled:
        source = (
            Q(channel_grants__channel=channel)
            | Q(desk_teams__channel_grants__channel=channel)
            | Q(is_superuser=True)
            | Q(user_permissions__codename="administer_channels")
            | Q(groups__permissions__codename="administer_channels")
        )
        if channel.all_teams_enabled:
            source |= Q(desk_teams__isnull=False)
        qs = qs.filter(source)
    return list(qs.distinct().order_by("first_name", "username")[:ASSIGNABLE_LIMIT])
