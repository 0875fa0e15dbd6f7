"""Reads for the agent pages: the inbox and the conversation page.

Every function returns fully shaped querysets or plain data, so views only slice and render, and
each page costs a constant number of queries whatever the data size (pinned in
tests/conversations/test_views_*.py). Visibility always comes from channels_app.access.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth import get_user_model
from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import (
    BooleanField,
    CharField,
    Count,
    F,
    Func,
    Lookup,
    Prefetch,
    Q,
    QuerySet,
    Value,
)
from django.utils.dateparse import parse_datetime

from channels_app.access import (
    Cap,
    can,
    channels_visible_to,
    is_admin,
    remember_sees_reports,
    users_holding,
    with_channel_role,
)
from channels_app.models import Channel, MessageTemplate
from config.db_features import is_postgres
from conversations.models import Contact, Conversation, Message, Tag, Topic

# Message-text search stops after this many matching messages (newest conversations first is
# not guaranteed beyond it); see docs/conversation-lifecycle.md, "Search".
SEARCH_MESSAGE_CAP = 500
SEARCH_CONTACT_CAP = 500
# Queue counts stop here (shown as "1,000+"); see queue_counts. At 1M conversations every queue
# of a Supervisor passes 10,000, and counting 10,000 index entries three times cost ~30 ms a page.
COUNT_CAP = 1_000
# Up to this many channels, a sparse filter's page is read per channel (inbox_page).
SPLIT_CHANNELS_MAX = 20
# With a tag or topic filter each counted row costs a probe into the link table, so the queues
# are counted to a lower cap ("100+"): at a million conversations an uncapped tag count is a
# hash join over every tagged conversation.
FILTERED_COUNT_CAP = 100
HISTORY_LIMIT = 20
EVENT_LIMIT = 200  # the full history view
EVENT_PAGE = 20  # the history panel beside the thread
ASSIGNABLE_LIMIT = 200

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


@dataclass
class InboxPage:
    rows: list[Conversation]
    next_cursor: Cursor | None
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


class _AnyOf(Lookup):
    """``column = ANY(%s::type[])``: the ids travel as one array parameter.

    A Supervisor's inbox filters on ~200 channel ids, three times in the count query alone; as
    ``IN (%s, %s, ...)`` that made every statement a few kilobytes that psycopg re-parsed on each
    request (its statement cache skips long queries) and Django compiled 600 parameters. The
    plan is the same: PostgreSQL turns ``IN (list)`` into ``= ANY(array)`` itself.
    """

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        db_type = self.lhs.output_field.cast_db_type(connection)
        return f"{lhs} = ANY(%s::{db_type}[])", (*lhs_params, list(self.rhs))


def _in_ids(field: str, ids: list[int]) -> Q | _AnyOf:
    """``field IN ids``, as one array parameter on PostgreSQL."""
    if ids and is_postgres():
        return _AnyOf(F(field), ids)
    return Q(**{f"{field}__in": ids})


class _BodyMatches(Func):
    """PostgreSQL full-text match of message text, shaped to use the ``msg_body_fts`` GIN index.

    Renders ``to_tsvector('simple', body) @@ plainto_tsquery('simple', %s)``: the 'simple'
    configuration (no stemming) suits a mix of languages and matches whole words.
    """

    template = "to_tsvector('simple'::regconfig, %(expressions)s)"
    arg_joiner = ") @@ plainto_tsquery('simple'::regconfig, "
    output_field = BooleanField()


class _BodyMayMatch(Func):
    """A cheap necessary condition for ``_BodyMatches``: the lowercased body contains every
    lexeme of the query as a substring.

    The 'simple' configuration makes each lexeme the lowercased token, and a token is a piece
    of the body, so a body that fails this cannot match; the lexemes come from PostgreSQL's own
    parser (one InitPlan per statement). Checked first, it spares ``to_tsvector`` on most of the
    rows the capped scan reads, which was most of the search's cost.
    """

    output_field = BooleanField()

    def as_sql(self, compiler, connection, **extra_context):
        body, query = self.get_source_expressions()
        body_sql, body_params = compiler.compile(body)
        query_sql, query_params = compiler.compile(query)
        # Lexemes are matched literally: LIKE's own wildcards and escape are escaped in them.
        pattern = (
            r"'%%' || replace(replace(replace(w.lexeme, '\', '\\'), '%%', '\%%'), '_', '\_')"
            " || '%%'"
        )
        # COALESCE hides the clause from LIKE's selectivity estimate (a guess of a row or two
        # for a parameter pattern, which turned the capped scan into a bitmap scan of every
        # match): as an opaque boolean it is taken as 0.5 and the plan stays as before.
        # Compiled expressions only; the query text stays a bound parameter.
        lexemes = f"tsvector_to_array(to_tsvector('simple'::regconfig, {query_sql}))"
        patterns = f"ARRAY(SELECT {pattern} FROM unnest({lexemes}) AS w(lexeme))"  # noqa: S608
        sql = f"COALESCE(lower({body_sql}) LIKE ALL ({patterns}), false)"
        return sql, (*body_params, *query_params)


def _matching_conversation_ids(q: str, channel_ids: list[int]) -> QuerySet:
    # A message its sender deleted is not searched: its text is hidden from most readers, and a
    # hit would point at it (issue 21).
    messages = Message.objects.filter(_in_ids("channel_id", channel_ids), revoked_at__isnull=True)
    if is_postgres():
        text = Value(q, output_field=CharField())
        messages = messages.filter(_BodyMayMatch(F("body"), text), _BodyMatches(F("body"), text))
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
    # conversations of matching messages). Two subqueries joined by OR cannot be a join, so the
    # planner scanned every visible conversation instead (one whole pass per page at 1M
    # conversations; bench/pages.py). The set is read once, here (one query, at most ~1,000
    # ids), because the page uses it twice, for the counts and for the rows: as a subquery
    # PostgreSQL ran the full-text match for both (~45 ms each for a common word).
    if not channel_ids:
        return qs.none()
    by_contact = (
        Conversation.objects.filter(contact_id__in=_matching_contact_ids(q)).order_by().values("pk")
    )
    parts, params = [], []
    for ids in (by_contact, _matching_conversation_ids(q, channel_ids)):
        sql, sub_params = ids.query.sql_with_params()
        parts.append(f"SELECT * FROM ({sql}) AS search_{len(parts)}")  # noqa: S608
        params.extend(sub_params)
    with connections[qs.db].cursor() as cursor:
        # Django-compiled SQL; every value in it stays a bound parameter.
        cursor.execute(" UNION ".join(parts), params)
        found = [pk for (pk,) in cursor.fetchall()]
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
    qs = Conversation.objects.filter(_in_ids("channel_id", channel_ids))
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
    sparse_in: list[int] | None = None,
) -> InboxPage:
    """One page of a queue with keyset pagination (two queries: rows, then their tags).

    The cursor is (last_activity_at, id) of the previous page's last row, matching the
    ``conv_inbox`` index order, so deep pages cost the same as the first. Each row gets
    ``channel_name``, from ``channels`` when given (no join), else from its channel.

    ``sparse_in``: the channel ids of a filter that few rows pass (a tag, a topic). On
    PostgreSQL, for a handful of channels, the page's ids are then read as the newest rows of
    each channel separately (one index range each, UNION ALL), and the rows by id: one query
    more, but no walk through every channel's rows to find the few that match.
    """
    qs = qs.filter(status=status)
    if cursor is not None:
        qs = qs.filter(
            Q(last_activity_at__lt=cursor.last_activity_at)
            | Q(last_activity_at=cursor.last_activity_at, id__lt=cursor.id)
        )
    related = (
        ("contact", "assignee") if channels is not None else ("channel", "contact", "assignee")
    )
    order = ("-last_activity_at", "-id")
    if (
        sparse_in is not None
        and 1 < len(sparse_in) <= SPLIT_CHANNELS_MAX
        and is_postgres(connections[qs.db])
    ):
        per_channel = [
            qs.filter(channel_id=pk)
            .order_by(*order)
            .values_list("last_activity_at", "id")[: size + 1]
            for pk in sparse_in
        ]
        ids = [
            pk
            for _, pk in per_channel[0]
            .union(*per_channel[1:], all=True)
            .order_by(*order)[: size + 1]
        ]
        qs = Conversation.objects.filter(pk__in=ids)
    rows = list(
        qs.select_related(*related)
        .prefetch_related(Prefetch("tags", to_attr="tag_list"))
        .order_by(*order)[: size + 1]
    )
    names = {c.pk: c.display_name for c in channels} if channels is not None else None
    for row in rows:
        row.channel_name = names.get(row.channel_id, "") if names else row.channel.display_name
    next_cursor = None
    if len(rows) > size:
        rows = rows[:size]
        next_cursor = Cursor(rows[-1].last_activity_at, rows[-1].pk)
    return InboxPage(rows=rows, next_cursor=next_cursor)


def all_tags() -> list[Tag]:
    return list(Tag.objects.order_by("name"))


def all_topics() -> list[Topic]:
    return list(Topic.objects.order_by("name"))


def _loaded(model, db: str, **values):
    """A ``model`` instance as the ORM loads it with only these fields (the others deferred)."""
    names = [f.attname for f in model._meta.concrete_fields if f.attname in values]
    return model.from_db(db, names, [values[name] for name in names])


def labels_for(conversation: Conversation) -> tuple[list[Tag], list[Topic]]:
    """Every tag and every topic by name, each with ``on`` set when ``conversation`` carries it.

    One query, a UNION ALL of four plain reads: the tags, the topics, and the conversation's
    own tag and topic ids (a topic comes without its description). An EXISTS per label gives
    the same answer, but its correlated subqueries cost a fifth more Python work to compile.
    """
    columns = ("kind", "pk", "name", "color")
    none = Value(None, output_field=CharField())
    parts = [
        Tag.objects.order_by().annotate(kind=Value(0)).values_list(*columns),
        Topic.objects.order_by().annotate(kind=Value(1), color=Value("")).values_list(*columns),
        Conversation.tags.through.objects.filter(conversation_id=conversation.pk)
        .annotate(kind=Value(2), name=none, color=none)
        .values_list("kind", "tag_id", "name", "color"),
        Conversation.topics.through.objects.filter(conversation_id=conversation.pk)
        .annotate(kind=Value(3), name=none, color=none)
        .values_list("kind", "topic_id", "name", "color"),
    ]
    rows = list(parts[0].union(*parts[1:], all=True).order_by("kind", "name"))
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


# --- the conversation page ---------------------------------------------------------------------


# Within one instant, messages sort before notes (then by id): the order the page always had.
_KIND_RANK = {"message": 0, "note": 1}
_KIND_CODE = {"message": "m", "note": "n"}
_CODE_KIND = {code: kind for kind, code in _KIND_CODE.items()}


@dataclass
class TimelineItem:
    kind: str  # "message" or "note"
    at: datetime
    obj: ThreadRow

    @property
    def key(self) -> tuple:
        return (self.at, _KIND_RANK[self.kind], self.obj.pk)

    @property
    def cursor(self) -> ThreadCursor:
        return ThreadCursor(self.at, self.kind, self.obj.pk)


@dataclass(frozen=True)
class ThreadCursor:
    """A position in a thread: one message or note, by (created_at, kind, id).

    Messages and notes live in two tables with their own id sequences, so the kind breaks a
    tie on the timestamp before the id does; the order is total and pages never overlap or skip.
    """

    at: datetime
    kind: str
    id: int

    def encode(self) -> str:
        return f"{self.at.isoformat()}~{_KIND_CODE[self.kind]}{self.id}"

    @classmethod
    def decode(cls, raw: str | None) -> ThreadCursor | None:
        """A cursor from the query string, or None when absent or malformed."""
        if not raw or "~" not in raw:
            return None
        stamp, _sep, ref = raw.rpartition("~")
        kind = _CODE_KIND.get(ref[:1])
        try:
            at = parse_datetime(stamp)
            number = int(ref[1:])
        except (ValueError, TypeError):
            return None
        if kind is None or at is None or at.tzinfo is None or number < 1:
            return None
        return cls(at, kind, number)

    def bound(self, kind: str, op: str) -> Q:
        """Rows of ``kind`` strictly before (``op="lt"``) or after (``"gt"``) this position;
        ``"gte"`` also keeps the position itself."""
        own, mine = _KIND_RANK[kind], _KIND_RANK[self.kind]
        strict = op[:2]
        if own != mine:
            # The other table: a row at the same instant is on the cursor's side by kind alone.
            same_instant_inside = (own < mine) == (strict == "lt")
            return Q(**{f"created_at__{strict}{'e' if same_instant_inside else ''}": self.at})
        return Q(**{f"created_at__{strict}": self.at}) | Q(
            created_at=self.at, **{f"id__{op}": self.id}
        )


@dataclass
class ThreadPage:
    """One page of a thread, oldest first, with the cursors of its neighbours (None: none)."""

    items: list[TimelineItem]
    earlier: ThreadCursor | None
    later: ThreadCursor | None


# A user as the conversation page names them (desk.user_label): not the password hash.
_USER_NAME_FIELDS = ("first_name", "last_name", "username")


@dataclass(frozen=True, slots=True)
class ThreadRow:
    """A message or a note as the thread shows it (desk.thread_items), read as plain values.

    The attributes are the model's, but only those the page shows; a note has no direction,
    type, payload, delivery or template. ``author`` is a user with its names only, and
    ``template`` a template with its name only, each built once per page. A model instance per
    row (and per author and template) was half of the thread's Python work.
    """

    pk: int
    created_at: datetime
    body: str
    author: object | None
    direction: str = ""
    type: str = ""
    payload: object = None
    delivery: str = ""
    failure_reason: str = ""
    template: MessageTemplate | None = None
    # Issue 21: the WhatsApp Business app / imported history, and edits and deletions.
    via: str = ""
    edited_at: datetime | None = None
    revoked_at: datetime | None = None
    erased_at: datetime | None = None
    # Meta's error code of a failed reply: the reason is translated from it when shown.
    failure_code: int | None = None
    # Issue 16: the wamid (reactions, quoting) and the message a reply quotes.
    provider_message_id: str | None = None
    reply_to_provider_id: str = ""


# The time is read as ``at``: selected under its own name, ``created_at`` in the ORDER BY
# would become a column position ("ORDER BY 2"), and bench.pages finds the page's main query
# by its ``ORDER BY "conversations_message"."created_at" DESC``.
_AUTHOR_COLUMNS = ("author_id", *(f"author__{name}" for name in _USER_NAME_FIELDS))
_MESSAGE_COLUMNS = (
    "pk",
    "at",
    "body",
    *_AUTHOR_COLUMNS,
    "direction",
    "type",
    "payload",
    "delivery",
    "failure_reason",
    "template_id",
    "template__name",
    "via",
    "edited_at",
    "revoked_at",
    "erased_at",
    "failure_code",
    "provider_message_id",
    "reply_to_provider_id",
)
_NOTE_COLUMNS = ("pk", "at", "body", *_AUTHOR_COLUMNS)


class _Shared:
    """The authors and templates of one page, one object each (from their ids and names)."""

    def __init__(self, db: str):
        self.db = db
        self.objects = {}

    def user(self, pk, *names):
        if pk is None:
            return None
        if ("user", pk) not in self.objects:
            fields = dict(zip(_USER_NAME_FIELDS, names, strict=True))
            self.objects["user", pk] = _loaded(get_user_model(), self.db, id=pk, **fields)
        return self.objects["user", pk]

    def template(self, pk, name):
        if pk is None:
            return None
        if ("template", pk) not in self.objects:
            self.objects["template", pk] = _loaded(MessageTemplate, self.db, id=pk, name=name)
        return self.objects["template", pk]


def _thread_rows(
    conversation: Conversation,
    kind: str,
    cond: Q | None,
    *,
    desc: bool,
    limit: int,
    shared: _Shared,
):
    if kind == "message":
        qs, columns = conversation.messages.all(), _MESSAGE_COLUMNS
    else:
        qs, columns = conversation.notes.all(), _NOTE_COLUMNS
    if cond is not None:
        qs = qs.filter(cond)
    order = ("-created_at", "-id") if desc else ("created_at", "id")
    rows = qs.annotate(at=F("created_at")).order_by(*order).values_list(*columns)[:limit]
    for pk, at, body, author_id, first, last, username, *rest in rows:
        author = shared.user(author_id, first, last, username)
        if kind == "message":
            direction, type_, payload, delivery, reason, template_id, template_name, *changes = rest
            row = ThreadRow(
                pk,
                at,
                body,
                author,
                direction,
                type_,
                payload,
                delivery,
                reason,
                shared.template(template_id, template_name),
                *changes,
            )
        else:
            row = ThreadRow(pk, at, body, author)
        yield TimelineItem(kind, at, row)


def thread_page(
    conversation: Conversation,
    *,
    size: int,
    before: ThreadCursor | None = None,
    after: ThreadCursor | None = None,
    include: bool = False,
) -> ThreadPage:
    """A page of ``size`` messages and notes interleaved by time, oldest first; two queries.

    Without a cursor: the latest page. ``before``: the page just older than that position.
    ``after``: the page just newer, or starting at it when ``include`` (a link to one message).
    Both tables are read through their thread indexes with ``LIMIT size + 1``, so the cost does
    not grow with the thread; the extra row only says whether a neighbour page exists. Each
    item's ``obj`` is a ``ThreadRow`` (the columns the page shows), not a model instance.
    """
    desc = after is None
    cursor = before if desc else after
    op = "lt" if desc else ("gte" if include else "gt")
    shared = _Shared(Message.objects.db)
    streams = [
        _thread_rows(
            conversation,
            kind,
            None if cursor is None else cursor.bound(kind, op),
            desc=desc,
            limit=size + 1,
            shared=shared,
        )
        for kind in ("message", "note")
    ]
    merged = list(
        itertools.islice(heapq.merge(*streams, key=lambda item: item.key, reverse=desc), size + 1)
    )
    more = len(merged) > size
    items = merged[:size]
    if desc:
        items.reverse()
        earlier = items[0].cursor if more and items else None
        later = items[-1].cursor if cursor is not None and items else None
        if cursor is not None and not items:
            later = cursor  # an empty page past the start still leads back
    else:
        later = items[-1].cursor if more else None
        earlier = items[0].cursor if items else cursor
    return ThreadPage(items=items, earlier=earlier, later=later)


def message_position(conversation: Conversation, message_id: int) -> ThreadCursor | None:
    """Where a message of this conversation sits in the thread (one query); None if not here."""
    at = conversation.messages.filter(pk=message_id).values_list("created_at", flat=True).first()
    return None if at is None else ThreadCursor(at, "message", message_id)


# What the history panel shows of an actor (desk.actor_name).
_ACTOR_FIELDS = tuple(f"actor__{name}" for name in _USER_NAME_FIELDS)


def events(conversation: Conversation, *, limit: int = EVENT_LIMIT) -> tuple[list, bool]:
    """The latest ``limit`` history rows, oldest first, with their actors, and whether older
    ones exist (one query)."""
    latest = list(
        conversation.events.select_related("actor")
        .only("conversation", "kind", "data", "created_at", *_ACTOR_FIELDS)
        .order_by("-created_at", "-id")[: limit + 1]
    )
    more = len(latest) > limit
    latest = latest[:limit]
    latest.reverse()
    return latest, more


# What the earlier-conversations panel shows (desk.earlier_items); not the channel's secrets.
_HISTORY_FIELDS = (
    "channel",
    "status",
    "opened_at",
    "last_message_preview",
    "channel__display_name",
)


def contact_history(conversation: Conversation, user) -> list[Conversation]:
    """The contact's other conversations on channels the user can see, newest first (the
    latest ``HISTORY_LIMIT``); one query, two when they are on other channels.

    A customer usually writes to one number, so the contact's latest conversations are read as
    they are first. When they all sit on this conversation's channel, whose role the access
    check has already read (``conversation_for`` keeps it on the channel), or the user is an
    admin, every one is visible and that is the answer: the role expression is neither built
    nor run, which was most of this read's cost. Otherwise they are read again with the user's
    role on each row's channel, computed for the contact's rows only (a handful), not for every
    channel the user can see (201 for a Supervisor), as the ``channel__in`` form of this query
    did.
    """
    others = (
        Conversation.objects.filter(contact_id=conversation.contact_id)
        .exclude(pk=conversation.pk)
        .select_related("channel")
        .only(*_HISTORY_FIELDS)
        .order_by("-opened_at")
    )
    latest = list(others[:HISTORY_LIMIT])
    own = conversation.channel_id
    if is_admin(user) or (
        all(row.channel_id == own for row in latest) and can(user, Cap.SEE, conversation.channel)
    ):
        return latest
    return list(
        with_channel_role(others, user, select=False).filter(channel_role__gt=0)[:HISTORY_LIMIT]
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
    """Candidates for the assign picker: active users who may be assigned a conversation on
    the channel (Cap.BE_ASSIGNED: those who can reply), by name.

    A courtesy list for the form (one query, from channels_app.access; the users' names only);
    the assign service checks every pick again through the access module.
    """
    qs = users_holding(Cap.BE_ASSIGNED, channel).only(*_USER_NAME_FIELDS)
    return list(qs.order_by("first_name", "username")[:ASSIGNABLE_LIMIT])
