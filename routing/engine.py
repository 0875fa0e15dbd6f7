"""Push routing: give a waiting New conversation to an Available agent (docs/routing.md).

Who may get it: an Available agent who holds Cap.BE_ASSIGNED on the channel (the access module
decides; Viewers never do), whose load (open New + Pending conversations assigned to them, on
every channel) is below their capacity. Capacity: the channel's, else the smallest of their
teams', else their own (default 5). Among them, an agent with every required skill of the
conversation (its topics, and the customer's language when known); once it has waited the
channel's ``fallback_after`` (5 minutes), also the members of the channel's fallback team (any
agent of the channel when none is set). The fewest open conversations first, then the longest
since their last routed conversation.

Concurrency (docs/concurrency.md): one transaction per conversation. The conversation row first
(``FOR NO KEY UPDATE SKIP LOCKED``: one being routed, replied to or moved by someone else is
left for the next pass), then the chosen agent's routing row (``FOR UPDATE SKIP LOCKED``: an
agent being routed another conversation by another worker is skipped for this one), and only
then the agent's load is counted and compared with their capacity. So two workers never give
one conversation twice, and never give one agent more than their capacity: every assignment
routing makes to an agent is serialised on that agent's row, and each counts the others'
committed work. The assignment itself is ``conversations.services.assign``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count

from channels_app.access import Cap, users_holding
from channels_app.models import Channel, Team
from conversations import services
from conversations.models import Conversation
from routing import live
from routing.models import (
    AgentState,
    Availability,
    ChannelRouting,
    ContactLanguage,
    TeamRouting,
    Waiting,
    parse_languages,
)

Status = Conversation.Status
# What counts towards an agent's load: the open queues (a snoozed conversation is out of them).
LOAD_STATUSES = (Status.NEW.value, Status.PENDING.value)


@dataclass
class Candidate:
    user_id: int
    capacity: int
    load: int
    last_assigned_at: datetime | None
    topics: frozenset[int] = frozenset()
    languages: frozenset[str] = frozenset()
    fallback: bool = False  # a member of the channel's fallback team

    @property
    def has_room(self) -> bool:
        return self.load < self.capacity

    def has_skills(self, required: Skills) -> bool:
        return required.topics <= self.topics and (
            not required.language or required.language in self.languages
        )


@dataclass(frozen=True)
class Skills:
    topics: frozenset[int] = frozenset()
    language: str = ""

    def __bool__(self) -> bool:
        return bool(self.topics or self.language)


@dataclass
class Outcome:
    routed: dict[int, int] = field(default_factory=dict)  # conversation id -> agent id
    no_room: bool = False


def loads(user_ids) -> dict[int, int]:
    """Open conversations assigned to each of these users (one grouped count)."""
    rows = (
        Conversation.objects.filter(assignee_id__in=list(user_ids), status__in=LOAD_STATUSES)
        .values("assignee_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts = dict.fromkeys(user_ids, 0)
    counts.update({row["assignee_id"]: row["n"] for row in rows})
    return counts


def load_of(user_id: int) -> int:
    return Conversation.objects.filter(assignee_id=user_id, status__in=LOAD_STATUSES).count()


def team_capacities(user_ids) -> dict[int, int]:
    """The smallest capacity among each user's teams that set one."""
    caps: dict[int, int] = {}
    through = Team.members.through
    rows = through.objects.filter(
        user_id__in=list(user_ids), team_id__in=TeamRouting.objects.values("team_id")
    ).values_list("user_id", "team__routing__capacity")
    for user_id, capacity in rows:
        caps[user_id] = min(capacity, caps.get(user_id, capacity))
    return caps


def candidates(channel: Channel, routing: ChannelRouting) -> list[Candidate]:
    """The Available agents who may be routed conversations of ``channel``, with load,
    capacity and skills (a handful of queries, however many agents)."""
    eligible = users_holding(Cap.BE_ASSIGNED, channel).values("pk")
    states = list(
        AgentState.objects.filter(availability=Availability.AVAILABLE, user_id__in=eligible).values(
            "user_id", "capacity", "languages", "last_assigned_at"
        )
    )
    if not states:
        return []
    ids = [s["user_id"] for s in states]
    topics: dict[int, set[int]] = defaultdict(set)
    for user_id, topic_id in AgentState.topics.through.objects.filter(
        agentstate_id__in=ids
    ).values_list("agentstate_id", "topic_id"):
        topics[user_id].add(topic_id)
    team_caps = team_capacities(ids)
    current = loads(ids)
    fallback_members = set()
    if routing.fallback_team_id:
        fallback_members = set(
            Team.members.through.objects.filter(
                team_id=routing.fallback_team_id, user_id__in=ids
            ).values_list("user_id", flat=True)
        )
    out = []
    for s in states:
        uid = s["user_id"]
        capacity = routing.capacity
        if capacity is None:
            capacity = team_caps.get(uid, s["capacity"])
        out.append(
            Candidate(
                user_id=uid,
                capacity=capacity,
                load=current[uid],
                last_assigned_at=s["last_assigned_at"],
                topics=frozenset(topics[uid]),
                languages=parse_languages(s["languages"]),
                fallback=uid in fallback_members,
            )
        )
    return out


def required_skills(conversation: Conversation) -> Skills:
    topic_ids = frozenset(conversation.topics.values_list("pk", flat=True))
    language = (
        ContactLanguage.objects.filter(contact_id=conversation.contact_id)
        .values_list("language", flat=True)
        .first()
    )
    return Skills(topics=topic_ids, language=next(iter(parse_languages(language or "")), ""))


def _order_key(c: Candidate):
    # Fewest open first; then the longest since their last routed conversation (never first).
    return (c.load, c.last_assigned_at is not None, c.last_assigned_at or 0)


def pool(
    cands: list[Candidate], required: Skills, *, fallback_open: bool, fallback_team: bool
) -> list[Candidate]:
    """The agents to try, best first: those with every required skill; once the wait is over,
    then the fallback team's members (or every agent of the channel without a team)."""
    with_room = [c for c in cands if c.has_room]
    skilled = sorted((c for c in with_room if c.has_skills(required)), key=_order_key)
    if not required or not fallback_open:
        return skilled
    others = [c for c in with_room if not c.has_skills(required)]
    if fallback_team:
        others = [c for c in others if c.fallback]
    return skilled + sorted(others, key=_order_key)


def _lock_conversation(conversation_id: int) -> Conversation | None:
    return (
        Conversation.objects.select_for_update(no_key=True, skip_locked=True, of=("self",))
        .select_related("channel")
        .filter(pk=conversation_id)
        .first()
    )


def route_one(
    conversation_id: int,
    *,
    routing: ChannelRouting,
    cands: list[Candidate],
    now: datetime,
) -> int | None:
    """Try to route one waiting conversation; the agent's id, or None. ``cands`` is updated in
    place with the load it adds (so one pass can route many with one candidate read)."""
    with transaction.atomic():
        conversation = _lock_conversation(conversation_id)
        if conversation is None:
            return None  # someone else holds it; the next pass sees it again
        if (
            conversation.status != Status.NEW
            or conversation.assignee_id is not None
            or not routing.push
        ):
            Waiting.objects.filter(conversation_id=conversation_id).delete()
            return None
        entry = Waiting.objects.filter(conversation_id=conversation_id).first()
        required = required_skills(conversation)
        fallback_open = entry is not None and (
            entry.fallback_at is None or entry.fallback_at <= now
        )
        User = get_user_model()
        for cand in pool(
            cands,
            required,
            fallback_open=fallback_open,
            fallback_team=routing.fallback_team_id is not None,
        ):
            state = (
                AgentState.objects.select_for_update(skip_locked=True)
                .filter(user_id=cand.user_id, availability=Availability.AVAILABLE)
                .first()
            )
            if state is None:
                continue  # another worker is routing to them, or they just left
            cand.load = load_of(cand.user_id)
            if not cand.has_room:
                continue
            agent = User.objects.get(pk=cand.user_id)
            try:
                services.assign(conversation, assignee=agent, actor=None, now=now)
            except services.AssigneeNotAllowed:
                continue  # lost access a moment ago
            state.last_assigned_at = now
            state.save(update_fields=["last_assigned_at"])
            cand.load += 1
            cand.last_assigned_at = now
            Waiting.objects.filter(conversation_id=conversation_id).delete()
            live.routed(
                conversation_id=conversation_id,
                channel_id=conversation.channel_id,
                user_id=cand.user_id,
            )
            return cand.user_id
        return None


def route_channel(
    channel: Channel, routing: ChannelRouting, *, now: datetime, limit: int
) -> Outcome:
    """Route the channel's waiting conversations, oldest first, until nobody has room."""
    outcome = Outcome()
    waiting = list(
        Waiting.objects.filter(channel_id=channel.pk)
        .order_by("queued_at", "conversation_id")
        .values_list("conversation_id", flat=True)[:limit]
    )
    if not waiting:
        return outcome
    cands = candidates(channel, routing)
    for conversation_id in waiting:
        if not any(c.has_room for c in cands):
            outcome.no_room = True
            break
        agent_id = route_one(conversation_id, routing=routing, cands=cands, now=now)
        if agent_id is not None:
            outcome.routed[conversation_id] = agent_id
    return outcome


def push_channels():
    return ChannelRouting.objects.filter(push=True, channel__is_active=True).select_related(
        "channel"
    )


def route_waiting(*, now: datetime, limit: int = 500, channel_ids=None) -> dict[int, int]:
    """One pass over every push channel (or those given); conversation id -> agent id."""
    routed: dict[int, int] = {}
    channels = push_channels()
    if channel_ids is not None:
        channels = channels.filter(channel_id__in=list(channel_ids))
    for routing in channels:
        routed.update(route_channel(routing.channel, routing, now=now, limit=limit).routed)
    return routed
