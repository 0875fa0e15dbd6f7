"""Reads for the conversation page: the thread (messages and notes, paged both ways), the
history of events, the contact's other conversations, the templates and assignees offered.

Like conversations/queries.py (the inbox), every function returns shaped data at a constant
number of queries (pinned in tests/conversations/test_views_detail.py).
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from django.contrib.auth import get_user_model
from django.db.models import (
    F,
    Q,
)
from django.utils.dateparse import parse_datetime

from channels_app.access import (
    Cap,
    is_admin,
    users_holding,
    with_channel_role,
)
from channels_app.models import Channel, MessageTemplate
from conversations import partitions
from conversations.models import Conversation, Event, Message
from conversations.services import template_placeholder_count

HISTORY_LIMIT = 20
EVENT_LIMIT = 200  # the full history view
EVENT_PAGE = 20  # the history panel beside the thread
ASSIGNABLE_LIMIT = 200


def _loaded(model, db: str, **values):
    """A ``model`` instance as the ORM loads it with only these fields (the others deferred)."""
    names = [f.attname for f in model._meta.concrete_fields if f.attname in values]
    return model.from_db(db, names, [values[name] for name in names])


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
        qs = conversation.messages.filter(partitions.in_thread(conversation))
        columns = _MESSAGE_COLUMNS
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
    at = (
        conversation.messages.filter(partitions.in_thread(conversation), pk=message_id)
        .values_list("created_at", flat=True)
        .first()
    )
    return None if at is None else ThreadCursor(at, "message", message_id)


# The history panel's rows with their actors' names (desk.actor_name), newest first. Written as
# SQL through Event.objects.raw (the ORM's converters, no query compilation): the same read
# composed with select_related and only() cost twice the Python work, on every page.
@cache
def _events_sql() -> str:
    # Only table names from model Meta are formatted in; the values are bound.
    return (
        "SELECT e.id, e.conversation_id, e.kind, e.actor_id, e.data, e.created_at,"  # noqa: S608
        " u.first_name AS actor_first, u.last_name AS actor_last, u.username AS actor_username"
        f" FROM {Event._meta.db_table} e"
        f" LEFT JOIN {get_user_model()._meta.db_table} u ON u.id = e.actor_id"
        " WHERE e.conversation_id = %s AND e.created_at >= %s"
        " ORDER BY e.created_at DESC, e.id DESC LIMIT %s"
    )


def events(conversation: Conversation, *, limit: int = EVENT_LIMIT) -> tuple[list, bool]:
    """The latest ``limit`` history rows, oldest first, with their actors, and whether older
    ones exist (one query, pruned to the thread's partitions: partitions.thread_floor)."""
    floor = partitions.thread_floor(conversation.opened_at)
    latest = list(Event.objects.raw(_events_sql(), [conversation.pk, floor, limit + 1]))
    db, user_model = Event.objects.db, get_user_model()
    for event in latest:
        if event.actor_id is not None:
            names = (event.actor_first, event.actor_last, event.actor_username)
            fields = dict(zip(_USER_NAME_FIELDS, names, strict=True))
            event.actor = _loaded(user_model, db, id=event.actor_id, **fields)
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
    latest ``HISTORY_LIMIT``); one query.

    The user's role is computed for the contact's rows only (a handful: the query starts from
    the contact's index), not for every channel the user can see (201 for a Supervisor); an
    admin sees them all, without the role expression.
    """
    others = (
        Conversation.objects.filter(contact_id=conversation.contact_id)
        .exclude(pk=conversation.pk)
        .select_related("channel")
        .only(*_HISTORY_FIELDS)
        .order_by("-opened_at")
    )
    if not is_admin(user):
        others = with_channel_role(others, user, select=False).filter(channel_role__gt=0)
    return list(others[:HISTORY_LIMIT])


def sendable_templates(channel: Channel) -> list[MessageTemplate]:
    """The channel's templates Meta accepts sends of, each with ``param_count`` set."""
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
