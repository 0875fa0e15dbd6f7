"""The live monitor's figures (``/monitor/``): per channel a Supervisor supervises, the queue
sizes, the oldest waiting customer and the agents with availability, load and capacity.

Read in a few grouped queries for all the channels at once, plus one per channel for its agents
(who may be routed there is the access module's answer, per channel).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, OuterRef, Q, Subquery

from channels_app.access import Cap, channels_where, users_holding
from conversations.models import Conversation
from routing import engine
from routing.models import AgentState, Availability, ChannelRouting, RoutingMode, Waiting, mode_of

Status = Conversation.Status
MAX_CHANNELS = 50


@dataclass
class AgentRow:
    user_id: int
    name: str
    availability: str
    availability_label: str
    load: int
    capacity: int

    @property
    def full(self) -> bool:
        return self.load >= self.capacity


@dataclass
class ChannelRow:
    channel_id: int
    name: str
    mode: str
    mode_label: str
    new: int = 0
    unassigned: int = 0
    pending: int = 0
    snoozed: int = 0
    waiting: int = 0
    oldest_at: datetime | None = None
    oldest_id: int | None = None
    oldest_name: str = ""
    agents: list[AgentRow] = field(default_factory=list)

    @property
    def available(self) -> int:
        return sum(1 for a in self.agents if a.availability == Availability.AVAILABLE)


def supervised_channels(user):
    return channels_where(user, Cap.MONITOR).filter(is_active=True).order_by("display_name", "pk")


def figures(user) -> list[ChannelRow]:
    channels = list(supervised_channels(user)[:MAX_CHANNELS])
    if not channels:
        return []
    ids = [c.pk for c in channels]
    routings = {r.channel_id: r for r in ChannelRouting.objects.filter(channel_id__in=ids)}
    statuses = [s for s in (Status.NEW, Status.PENDING, getattr(Status, "SNOOZED", None)) if s]
    counts = {
        row["channel_id"]: row
        for row in Conversation.objects.filter(channel_id__in=ids, status__in=statuses)
        .values("channel_id")
        .annotate(
            new=Count("pk", filter=Q(status=Status.NEW)),
            unassigned=Count("pk", filter=Q(status=Status.NEW, assignee__isnull=True)),
            pending=Count("pk", filter=Q(status=Status.PENDING)),
            snoozed=Count("pk", filter=Q(status="snoozed")),
        )
        .order_by()
    }
    waiting = dict(
        Waiting.objects.filter(channel_id__in=ids)
        .values("channel_id")
        .annotate(n=Count("pk"))
        .values_list("channel_id", "n")
        .order_by()
    )
    oldest = Conversation.objects.filter(
        channel_id=OuterRef("pk"), status=Status.NEW, last_customer_message_at__isnull=False
    ).order_by("last_customer_message_at")
    oldest_rows = {
        c["pk"]: c
        for c in type(channels[0])
        .objects.filter(pk__in=ids)
        .annotate(
            oldest_id=Subquery(oldest.values("pk")[:1]),
            oldest_at=Subquery(oldest.values("last_customer_message_at")[:1]),
        )
        .values("pk", "oldest_id", "oldest_at")
    }
    names = dict(
        Conversation.objects.filter(
            pk__in=[r["oldest_id"] for r in oldest_rows.values() if r["oldest_id"]]
        ).values_list("pk", "contact__profile_name")
    )
    rows = []
    for channel in channels:
        routing = routings.get(channel.pk)
        mode = mode_of(channel, routing)
        c = counts.get(channel.pk, {})
        o = oldest_rows.get(channel.pk, {})
        row = ChannelRow(
            channel_id=channel.pk,
            name=channel.display_name,
            mode=mode,
            mode_label=str(RoutingMode(mode).label).split(":")[0],
            new=c.get("new", 0),
            unassigned=c.get("unassigned", 0),
            pending=c.get("pending", 0),
            snoozed=c.get("snoozed", 0),
            waiting=waiting.get(channel.pk, 0),
            oldest_at=o.get("oldest_at"),
            oldest_id=o.get("oldest_id"),
            oldest_name=names.get(o.get("oldest_id"), ""),
        )
        row.agents = agents_of(channel, routing)
        rows.append(row)
    return rows


def agents_of(channel, routing) -> list[AgentRow]:
    users = list(
        users_holding(Cap.BE_ASSIGNED, channel)
        .filter(is_superuser=False)
        .order_by("username")
        .values("pk", "username", "first_name", "last_name")[:200]
    )
    ids = [u["pk"] for u in users]
    states = {s.user_id: s for s in AgentState.objects.filter(user_id__in=ids)}
    loads = engine.loads(ids)
    team_caps = engine.team_capacities(ids)
    labels = dict(Availability.choices)
    out = []
    for u in users:
        state = states.get(u["pk"])
        availability = state.availability if state else Availability.OFFLINE
        own = state.capacity if state else AgentState._meta.get_field("capacity").default
        capacity = routing.capacity if routing and routing.capacity is not None else None
        if capacity is None:
            capacity = team_caps.get(u["pk"], own)
        name = f"{u['first_name']} {u['last_name']}".strip() or u["username"]
        out.append(
            AgentRow(
                user_id=u["pk"],
                name=name,
                availability=availability,
                availability_label=str(labels[availability]),
                load=loads[u["pk"]],
                capacity=capacity,
            )
        )
    order = {Availability.AVAILABLE: 0, Availability.AWAY: 1, Availability.OFFLINE: 2}
    out.sort(key=lambda a: (order[a.availability], a.name.lower()))
    return out


def summary(user) -> int:
    """How many channels the user may monitor (0: no monitor link)."""
    return supervised_channels(user).count()
