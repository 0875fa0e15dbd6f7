"""Reads for the agent pages: the inbox and the conversation page.

Every function returns fully shaped querysets or plain data, so views only slice and render, and
each page costs a constant number of queries whatever the data size (pinned in
tests/conversations/test_views_*.py). Visibility always comes from channels_app.access.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import (
    Count,
    F,
    Prefetch,
    Q,
    QuerySet,
)
from django.utils.dateparse import parse_datetime

from channels_app.access import (
    channels_visible_to,
    remember_sees_reports,
)
from channels_app.models import Channel
from config import db_features
from conversations import search
from conversations.models import Conversation, Tag, Topic
from conversations.thread import (
    ASSIGNABLE_LIMIT as ASSIGNABLE_LIMIT,
)
from conversations.thread import (
    EVENT_LIMIT as EVENT_LIMIT,
)
from conversations.thread import (
    EVENT_PAGE as EVENT_PAGE,
)
from conversations.thread import (
    HISTORY_LIMIT as HISTORY_LIMIT,
)
from conversations.thread import (
    ThreadCursor as ThreadCursor,
)
from conversations.thread import (
    ThreadPage as ThreadPage,
)
from conversations.thread import (
    ThreadRow as ThreadRow,
)
from conversations.thread import (
    TimelineItem as TimelineItem,
)

# The conversation page's reads live in conversations/thread.py; queries.X keeps naming them.
from conversations.thread import (
    _loaded,
)
from conversations.thread import (
    assignable_users as assignable_users,
)
from conversations.thread import (
    contact_history as contact_history,
)
from conversations.thread import (
    events as events,
)
from conversations.thread import (
    message_position as message_position,
)
from conversations.thread import (
    sendable_templates as sendable_templates,
)
from conversations.thread import (
    thread_page as thread_page,
)

# Message-text search stops after this many matching messages (newest months first, see
# conversations/search.py); see docs/conversation-lifecycle.md, "Search".
SEARCH_MESSAGE_CAP = search.MESSAGE_CAP
SEARCH_CONTACT_CAP = search.CONTACT_CAP
# Queue counts stop here (shown as "1,000+"); see queue_counts. At 1M conversations every queue
# of a Supervisor passes 10,000, and counting 10,000 index entries three times cost ~30 ms a page.
COUNT_CAP = 1_000
# Longest waiting first: up to this many channels, a sparse filter's page is read per channel
# (per_channel_ids).
SPLIT_CHANNELS_MAX = 20
# With a tag or topic filter each counted row costs a probe into the link table, so the queues
# are counted to a lower cap ("100+"): at a million conversations an uncapped tag count is a
# hash join over every tagged conversation. "Unassigned" too: each row a heap visit to tell,
# ~11,000 of them to count New and Pending to 1,000 for a Supervisor at 10M (14 ms).
FILTERED_COUNT_CAP = 100

ASSIGNEE_ME = "me"
ASSIGNEE_NONE = "unassigned"


@dataclass(frozen=True)
class InboxFilters:
    """What the agent picked in the inbox; empty values mean "any"."""

    status: str = Conversation.Status.NEW
    channel: ChannelOption | None = None
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


# The inbox's orders: newest activity first (the default), or longest waiting first.
SORT_ACTIVITY, SORT_WAITING = "", "waiting"


@dataclass(frozen=True)
class WaitingCursor:
    """Keyset position in "longest waiting first": (waiting_since, id) of the previous page's
    last row; ``waiting_since`` None once the page reached the answered rows (they come last)."""

    waiting_since: datetime | None
    id: int

    def encode(self) -> str:
        stamp = self.waiting_since.isoformat() if self.waiting_since else "answered"
        return f"{stamp}~{self.id}"

    @classmethod
    def decode(cls, raw: str | None) -> WaitingCursor | None:
        if raw and raw.rpartition("~")[0] == "answered":
            try:
                return cls(None, int(raw.rpartition("~")[2]))
            except ValueError:
                return None
        found = Cursor.decode(raw)
        return cls(found.last_activity_at, found.id) if found else None


def decode_cursor(raw: str | None, sort: str) -> Cursor | WaitingCursor | None:
    return WaitingCursor.decode(raw) if sort == SORT_WAITING else Cursor.decode(raw)


def _waiting_after(cursor: WaitingCursor) -> Q:
    if cursor.waiting_since is None:
        return Q(waiting_since__isnull=True, id__gt=cursor.id)
    return (
        Q(waiting_since__gt=cursor.waiting_since)
        | Q(waiting_since=cursor.waiting_since, id__gt=cursor.id)
        | Q(waiting_since__isnull=True)
    )


@dataclass
class InboxPage:
    rows: list[Conversation]
    next_cursor: Cursor | WaitingCursor | None
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ChannelOption:
    """A channel as the inbox needs it: its id and the name agents know it by."""

    pk: int
    display_name: str


def inbox_channels(user) -> list[ChannelOption]:
    """The channels for the inbox picker: visible to ``user`` and active, by display name.

    One query, a few columns: a Supervisor sees ~200 channels, and full model instances (with
    the role annotation) were the largest Python cost of the page. The inactive ones are read
    too, for their roles: with them the top bar knows whether to link the reports
    (access.remember_sees_reports) without a query of its own.
    """
    rows = (
        channels_visible_to(user)
        .order_by("display_name", "id")
        .values_list("pk", "display_name", "is_active", "effective_role")
    )
    remember_sees_reports(user, [role for *_, role in rows])
    return [ChannelOption(pk, name) for pk, name, active, _role in rows if active]


def _in_ids(field: str, ids: list[int]):
    """``field IN ids``, as one array parameter on PostgreSQL (``db_features.AnyOf``)."""
    return db_features.dialect().in_ids(field, ids)


# The full-text expressions live with the dialects; the names stay for their callers.
_BodyMatches = db_features.BodyMatches
_BodyMayMatch = db_features.BodyMayMatch


def _search(qs: QuerySet, q: str, channel_ids: list[int]) -> QuerySet:
    # One id set (conversations.search: the capped contact and message matches, one query),
    # read once here because the page uses it twice, for the counts and for the rows: as a
    # subquery PostgreSQL ran the full-text match for both (~45 ms each for a common word).
    found = search.matching_ids(q, channel_ids, using=qs.db)
    if not found:
        return qs.none()  # no counts and no rows to query
    return qs.filter(_in_ids("pk", found))


def inbox_for(user, filters: InboxFilters, *, channels: list[Channel]) -> QuerySet:
    """Conversations in ``channels`` (already the user's visible, active ones) matching the
    filters in every respect but the status; newest activity first.

    ``channels`` is passed in, not recomputed, so the page evaluates visibility once. With a
    search (``filters.q``) the matching ids are read here, in one query.
    """
    channel_ids = [c.pk for c in channels]
    if filters.channel is not None:
        channel_ids = [pk for pk in channel_ids if pk == filters.channel.pk]
    qs = _filtered(Conversation.objects.filter(_in_ids("channel_id", channel_ids)), user, filters)
    if filters.q:
        qs = _search(qs, filters.q, channel_ids)
    return qs


def _filtered(qs: QuerySet, user, filters: InboxFilters) -> QuerySet:
    """``qs`` with the assignee, tag and topic filters."""
    if filters.assignee == ASSIGNEE_ME:
        qs = qs.filter(assignee=user)
    elif filters.assignee == ASSIGNEE_NONE:
        qs = qs.filter(assignee__isnull=True)
    if filters.tag is not None:
        qs = qs.filter(tags=filters.tag)
    if filters.topic is not None:
        qs = qs.filter(topics=filters.topic)
    return qs


@dataclass(frozen=True)
class PerChannel:
    """A page to read per channel: the channel ids, and the filters without the channels
    (each channel's read names its own; the list of all of them again made PostgreSQL read
    the partial open-rows index and sort, ~4x the index-only range)."""

    ids: list[int]
    qs: QuerySet


def per_channel(
    user, filters: InboxFilters, channels: list[ChannelOption], *, sort: str = SORT_ACTIVITY
) -> PerChannel | None:
    """What ``inbox_page`` reads per channel (``per_channel_ids``), or None for one walk."""
    ids = per_channel_ids(filters, channels, sort=sort)
    if ids is None:
        return None
    return PerChannel(ids, _filtered(Conversation.objects.all(), user, filters))


def sparse_filter(filters: InboxFilters) -> bool:
    """Whether the filters pass part of a queue only, at a cost per row walked (a tag or topic
    probe, the heap visit that tells "unassigned"): counted to ``FILTERED_COUNT_CAP``."""
    return filters.tag is not None or filters.topic is not None or filters.assignee == ASSIGNEE_NONE


def per_channel_ids(
    filters: InboxFilters, channels: list[ChannelOption], *, sort: str = SORT_ACTIVITY
) -> list[int] | None:
    """The channel ids whose rows ``inbox_page`` reads per channel, or None for one walk.

    A queue's page over several channels is read per channel (bounded index ranges, see
    ``Dialect.newest_per_group``): one walk of every channel's rows in activity order first
    skips the newer rows of the channels the user does not see, and at 10M conversations a
    busy invisible channel put two million of them in front of a Supervisor's Resolved page
    (bench/RESULTS.md, "Inbox at 10M"). Not with a search (its rows come from a short id list),
    a channel filter (one range already) or "assigned to me" (its own index,
    ``conv_inbox_mine``). Longest waiting first reads each channel to a full page, so there a
    tag, a topic or "unassigned" in an open queue (which pass part of the rows only: a probe
    or a heap visit per row walked) go per channel only up to ``SPLIT_CHANNELS_MAX`` channels.
    """
    if filters.q or filters.channel is not None or filters.assignee == ASSIGNEE_ME:
        return None
    ids = [c.pk for c in channels]
    # "Unassigned" passes some open rows (each a heap visit to tell), and every resolved one.
    unassigned = (
        filters.assignee == ASSIGNEE_NONE and filters.status != Conversation.Status.RESOLVED
    )
    sparse = filters.tag is not None or filters.topic is not None or unassigned
    if len(ids) < 2 or (sort == SORT_WAITING and sparse and len(ids) > SPLIT_CHANNELS_MAX):
        return None
    return ids


def queue_counts(qs: QuerySet, *, cap: int | None = COUNT_CAP) -> dict[str, int]:
    """How many conversations of ``qs`` sit in each queue, each counted up to ``cap``; one query.

    The Resolved queue only ever grows, so an exact count would scan every conversation a user
    can see on every refresh. Each queue is counted over ``LIMIT cap`` rows of its own index
    range instead, and the page shows "1,000+" at the cap. ``cap=None`` counts exactly in one
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
    qs: QuerySet,
    *,
    status: str,
    cursor: Cursor | None,
    size: int,
    channels: list[ChannelOption] | None = None,
    per_channel: PerChannel | None = None,
    sort: str = SORT_ACTIVITY,
) -> InboxPage:
    """One page of a queue with keyset pagination (two queries: rows, then their tags).

    The cursor is (last_activity_at, id) of the previous page's last row, matching the
    ``conv_inbox`` index order, so deep pages cost the same as the first. Each row gets
    ``channel_name``, from ``channels`` when given (no join), else from its channel.

    ``per_channel``: the channels to read separately (``per_channel``). On PostgreSQL
    the page's ids are then the first rows of each channel's own index range (a LATERAL join,
    in the same statement), so the page costs channels x (size + 1) index entries at most,
    whatever the rows of other channels.

    ``sort=SORT_WAITING``: longest waiting first (``waiting_since`` ascending, the answered rows
    last, then id), on the ``conv_inbox_waiting`` indexes, with a ``WaitingCursor``.
    """
    waiting = sort == SORT_WAITING
    key = "waiting_since" if waiting else "last_activity_at"

    def narrowed(qs: QuerySet) -> QuerySet:
        qs = qs.filter(status=status)
        if waiting and cursor is not None:
            return qs.filter(_waiting_after(cursor))
        if cursor is not None:
            return qs.filter(
                Q(last_activity_at__lt=cursor.last_activity_at)
                | Q(last_activity_at=cursor.last_activity_at, id__lt=cursor.id)
            )
        return qs

    qs = narrowed(qs)
    related = (
        ("contact", "assignee") if channels is not None else ("channel", "contact", "assignee")
    )
    # PostgreSQL sorts NULL last in ascending order (as the index stores it); SQLite is told.
    order = ("waiting_since", "id") if waiting else ("-last_activity_at", "-id")
    full_order = (F("waiting_since").asc(nulls_last=True), "id") if waiting else order
    if per_channel is not None and len(per_channel.ids) > 1:
        qs = db_features.dialect(connections[qs.db]).newest_per_group(
            narrowed(per_channel.qs),
            field="channel_id",
            values=per_channel.ids,
            key=key,
            order=order,
            limit=size + 1,
        )
    rows = list(
        qs.select_related(*related)
        .prefetch_related(Prefetch("tags", to_attr="tag_list"))
        .order_by(*full_order)[: size + 1]
    )
    names = {c.pk: c.display_name for c in channels} if channels is not None else None
    for row in rows:
        row.channel_name = names.get(row.channel_id, "") if names else row.channel.display_name
    next_cursor = None
    if len(rows) > size:
        rows = rows[:size]
        last = rows[-1]
        next_cursor = (
            WaitingCursor(last.waiting_since, last.pk)
            if waiting
            else Cursor(last.last_activity_at, last.pk)
        )
    return InboxPage(rows=rows, next_cursor=next_cursor)


def all_tags() -> list[Tag]:
    return list(Tag.objects.order_by("name"))


def all_topics() -> list[Topic]:
    return list(Topic.objects.order_by("name"))


def labels_for(conversation: Conversation) -> tuple[list[Tag], list[Topic]]:
    """Every tag and every topic by name, each with ``on`` set when ``conversation`` carries it.

    One query, a UNION ALL of four plain reads: the tags, the topics, and the conversation's
    own tag and topic ids (a topic comes without its description). Written as SQL (table names
    from the models): the same UNION composed with the ORM cost 1.1 ms of Python to compile on
    every conversation page, fifteen times the read itself.
    """
    with connections[Tag.objects.db].cursor() as cursor:
        cursor.execute(_labels_sql(), [conversation.pk, conversation.pk])
        rows = cursor.fetchall()
    carried = {(kind - 2, pk) for kind, pk, _name, _color in rows if kind >= 2}
    db = Tag.objects.db
    found: tuple[list[Tag], list[Topic]] = ([], [])
    for kind, pk, name, color in rows:
        if kind == 0:
            label = _loaded(Tag, db, id=pk, name=name, color=color)
        elif kind == 1:
            label = _loaded(Topic, db, id=pk, name=name)
        else:
            continue
        label.on = (kind, pk) in carried
        found[kind].append(label)
    return found


@cache
def _labels_sql() -> str:
    tags, topics = Conversation.tags.through._meta, Conversation.topics.through._meta
    return (
        f"SELECT 0, id, name, color FROM {Tag._meta.db_table}"  # noqa: S608 - table names only
        f" UNION ALL SELECT 1, id, name, '' FROM {Topic._meta.db_table}"
        f" UNION ALL SELECT 2, tag_id, NULL, NULL FROM {tags.db_table} WHERE conversation_id = %s"
        f" UNION ALL SELECT 3, topic_id, NULL, NULL FROM {topics.db_table}"
        " WHERE conversation_id = %s ORDER BY 1, 3"
    )
