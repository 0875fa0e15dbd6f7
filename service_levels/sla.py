"""The SLA clocks of conversations: which targets run, when they pause, when they are met.

Each clock is an ``SlaTarget`` row. A policy (the channel's, or the one of a tag the
conversation carries) gives the target lengths; the clock counts business or calendar time as
the policy says (service_levels.hours). The rules (docs/service-levels.md):

- a new conversation starts its first-response and resolution clocks at its opening;
- a customer's message after the desk has answered starts a next-response clock (one at a time);
- the desk's reply (a message with an author: never the system's auto-replies) meets the
  running response clocks; resolving meets the resolution clock and closes the response ones;
- while the conversation is Pending (or snoozed) its clocks pause: the time left is kept and
  counted again from the moment it is back in New;
- a warning is due at 80 % of the target and the breach at 100 %; ``alert_at`` holds whichever
  comes next, and the sweep (service_levels.sweep) records both as events.

The 24-hour window is a clock of its own kind (``window``): it runs while the conversation waits
for the desk's reply and alerts an hour before the window closes.

Every function takes ``now`` (a controllable clock for the tests); the receivers pass the
instant of the change they react to.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q

from config import db_features
from conversations.models import Conversation
from service_levels import hours
from service_levels.models import SlaPolicy, SlaTarget

Kind = SlaTarget.Kind
State = SlaTarget.State
LIVE = (State.RUNNING, State.PAUSED)
WARN_AT = 0.8
WINDOW_ALERT_BEFORE = timedelta(hours=1)
# Statuses in which the desk waits for the customer: the clocks stand still. "snoozed" is named
# as a string so the rule holds once that status exists.
PAUSED_STATUSES = frozenset({Conversation.Status.PENDING.value, "snoozed"})


def is_paused_status(status: str) -> bool:
    return status in PAUSED_STATUSES


# --- policies -----------------------------------------------------------------------------------


def policies_by_channel(channel_ids: Iterable[int]) -> dict[int, list[SlaPolicy]]:
    found: dict[int, list[SlaPolicy]] = {}
    for policy in SlaPolicy.objects.filter(channel_id__in=set(channel_ids), active=True):
        found.setdefault(policy.channel_id, []).append(policy)
    return found


def choose_policy(policies: list[SlaPolicy], tag_ids: set[int]) -> SlaPolicy | None:
    """A policy of one of the conversation's tags wins over the channel's own; of several tags'
    policies the strictest first response (then the lowest id) wins."""
    tagged = [p for p in policies if p.tag_id is not None and p.tag_id in tag_ids]
    if tagged:
        return min(tagged, key=lambda p: (p.first_response or timedelta.max, p.pk))
    return next((p for p in policies if p.tag_id is None), None)


def _tag_ids(conversation_ids: Iterable[int]) -> dict[int, set[int]]:
    through = Conversation.tags.through
    found: dict[int, set[int]] = {}
    for conv_id, tag_id in through.objects.filter(
        conversation_id__in=list(conversation_ids)
    ).values_list("conversation_id", "tag_id"):
        found.setdefault(conv_id, set()).add(tag_id)
    return found


class Context:
    """Policies, tags and schedules of a batch of conversations, loaded once."""

    def __init__(self, conversations: list[Conversation]):
        channel_ids = {c.channel_id for c in conversations}
        self.policies = policies_by_channel(channel_ids)
        self.tags = _tag_ids([c.pk for c in conversations]) if self.policies else {}
        self.channel_ids = channel_ids
        self._schedules = None  # loaded on the first business-hours clock only

    def policy(self, conversation: Conversation) -> SlaPolicy | None:
        return choose_policy(
            self.policies.get(conversation.channel_id, []), self.tags.get(conversation.pk, set())
        )

    def clock(self, channel_id: int, business: bool):
        if not business:
            return hours.ALWAYS_OPEN
        if self._schedules is None:
            self._schedules = hours.schedules(self.channel_ids)
        return self._schedules[channel_id]


# --- one clock ----------------------------------------------------------------------------------


def _run_from(target: SlaTarget, clock, now: datetime, remaining: float) -> None:
    """Set a running target's due, warning and alert moments from ``remaining`` seconds left."""
    target.state = State.RUNNING
    target.remaining_s = None
    if target.kind == Kind.WINDOW:
        return  # the window's moments are real instants, fixed by the customer's message
    target.due_at = clock.add_business_seconds(now, remaining)
    warn_left = remaining - (1 - WARN_AT) * target.target_s
    target.warn_at = clock.add_business_seconds(now, max(0.0, warn_left))
    _set_alert(target)


def _set_alert(target: SlaTarget) -> None:
    if target.state != State.RUNNING:
        target.alert_at = None
    elif target.warned_at is None and target.warn_at is not None:
        target.alert_at = target.warn_at
    elif target.breached_at is None:
        target.alert_at = target.due_at
    else:
        target.alert_at = None


def remaining_seconds(target: SlaTarget, clock, now: datetime) -> float:
    """Time left on a running target at ``now`` in its own time (negative once overdue)."""
    if target.due_at is None:
        return float("inf")
    if target.due_at >= now:
        return clock.business_seconds(now, target.due_at)
    return -clock.business_seconds(target.due_at, now)


def new_target(conversation, policy, kind, *, started_at, context, now) -> SlaTarget | None:
    length = policy.target(kind) if policy else None
    if length is None:
        return None
    target = SlaTarget(
        conversation_id=conversation.pk,
        channel_id=conversation.channel_id,
        policy=policy,
        kind=kind,
        business=policy.business_hours,
        target_s=length.total_seconds(),
        started_at=started_at,
    )
    clock = context.clock(conversation.channel_id, target.business)
    if is_paused_status(conversation.status):
        target.state = State.PAUSED
        target.remaining_s = target.target_s
        return target
    elapsed = clock.business_seconds(started_at, now) if now > started_at else 0.0
    _run_from(target, clock, now, target.target_s - elapsed)
    if target.due_at is not None and target.due_at <= now:
        # Already over when it starts (a late-applied batch): the sweep flags it at once.
        target.alert_at = now
    return target


def window_target(conversation: Conversation) -> SlaTarget | None:
    closes = conversation.window_closes_at()
    if closes is None:
        return None
    target = SlaTarget(
        conversation_id=conversation.pk,
        channel_id=conversation.channel_id,
        kind=Kind.WINDOW,
        business=False,
        target_s=(closes - conversation.last_customer_message_at).total_seconds(),
        started_at=conversation.last_customer_message_at,
        due_at=closes,
        warn_at=closes - WINDOW_ALERT_BEFORE,
    )
    target.state = State.PAUSED if is_paused_status(conversation.status) else State.RUNNING
    _set_alert(target)
    return target


# --- reactions ----------------------------------------------------------------------------------


def _conversations(ids: Iterable[int]) -> list[Conversation]:
    return list(
        Conversation.objects.filter(pk__in=set(ids)).only(
            "id", "channel_id", "status", "assignee_id", "opened_at", "last_customer_message_at"
        )
    )


def _live(conversation_ids, kinds=None) -> dict[tuple[int, str], SlaTarget]:
    ids = list(conversation_ids)
    qs = SlaTarget.objects.select_for_update().filter(
        db_features.dialect().in_ids("conversation_id", ids), state__in=LIVE
    )
    if kinds:
        qs = qs.filter(kind__in=kinds)
    return {(t.conversation_id, t.kind): t for t in qs.order_by("id")}


_FIELDS = [
    "state",
    "due_at",
    "warn_at",
    "alert_at",
    "remaining_s",
    "met_at",
    "agent",
    "settled_at",
    "warned_at",
    "breached_at",
    "policy",
    "target_s",
    "business",
    "started_at",
]


def _save(targets: list[SlaTarget]) -> None:
    new = [t for t in targets if t.pk is None]
    old = [t for t in targets if t.pk is not None]
    if new:
        SlaTarget.objects.bulk_create(new)
    if old:
        SlaTarget.objects.bulk_update(old, _FIELDS)


@transaction.atomic
def on_customer_messages(
    at_by_conversation: dict[int, datetime],
    *,
    opened: Iterable[int] = (),
    now: datetime,
) -> None:
    """Customers wrote (``at_by_conversation``: the latest message per conversation); the
    conversations in ``opened`` are new. Starts first-response and resolution clocks of new
    conversations, a next-response clock where the desk had answered, resumes paused clocks of
    conversations back in New, and (re)starts the window clock."""
    conversations = _conversations(at_by_conversation)
    if not conversations:
        return
    context = Context(conversations)
    live = _live(at_by_conversation)
    answered = set(
        SlaTarget.objects.filter(
            conversation_id__in=list(at_by_conversation), kind=Kind.FIRST_RESPONSE
        )
        .exclude(state__in=LIVE)
        .values_list("conversation_id", flat=True)
    )
    opened = set(opened)
    changed: list[SlaTarget] = []
    for conv in conversations:
        at = at_by_conversation[conv.pk]
        policy = context.policy(conv)
        kinds = []
        if conv.pk in opened:
            kinds = [Kind.FIRST_RESPONSE, Kind.RESOLUTION]
        elif conv.pk in answered and (conv.pk, Kind.NEXT_RESPONSE) not in live:
            kinds = [Kind.NEXT_RESPONSE]
        for kind in kinds:
            if (conv.pk, kind) in live:
                continue
            start = conv.opened_at if kind != Kind.NEXT_RESPONSE else at
            target = new_target(conv, policy, kind, started_at=start, context=context, now=now)
            if target:
                changed.append(target)
        # The window: one live clock per conversation, moved to the latest customer message.
        window = live.pop((conv.pk, Kind.WINDOW), None)
        fresh = window_target(conv)
        if window is not None and fresh is not None:
            for name in ("started_at", "due_at", "warn_at", "state", "alert_at"):
                setattr(window, name, getattr(fresh, name))
            window.warned_at = window.breached_at = None
            _set_alert(window)
            changed.append(window)
        elif fresh is not None:
            changed.append(fresh)
    _save(changed)
    _resume_or_pause(conversations, context, live, now)


@transaction.atomic
def on_desk_replies(replies: dict[int, tuple[datetime, int | None]]) -> None:
    """The desk answered: {conversation id: (when, author id)}. Meets the live first- and
    next-response clocks and the window clock of those conversations."""
    live = _live(replies, kinds=[Kind.FIRST_RESPONSE, Kind.NEXT_RESPONSE, Kind.WINDOW])
    done = []
    for (conv_id, _kind), target in live.items():
        at, author_id = replies[conv_id]
        _settle(target, State.MET, at=at, agent_id=author_id)
        done.append(target)
    _save(done)


def _settle(target: SlaTarget, state: str, *, at: datetime, agent_id: int | None) -> None:
    target.state = state
    target.alert_at = None
    target.remaining_s = None
    if state == State.MET:
        target.met_at = at
    if target.settled_at is None:
        # A breached clock settled when it breached; the breach credits the assignee then.
        target.settled_at = at if state == State.MET else None
        target.agent_id = agent_id


@transaction.atomic
def on_status_changed(conversation_ids: Iterable[int], *, now: datetime) -> None:
    """Status moved: Pending (or snoozed) pauses the clocks, New resumes them, Resolved meets the
    resolution clock and closes the others."""
    live = _live(conversation_ids)
    if not live:
        return  # no clock runs for any of them (a channel without policies, an auto-resolve)
    conversations = _conversations({conversation_id for conversation_id, _kind in live})
    context = Context(conversations)
    _resume_or_pause(conversations, context, live, now)


def _resume_or_pause(conversations, context, live, now) -> None:
    changed = []
    for conv in conversations:
        for kind in Kind.values:
            target = live.get((conv.pk, kind))
            if target is None:
                continue
            clock = context.clock(conv.channel_id, target.business)
            if conv.status == Conversation.Status.RESOLVED:
                met = kind == Kind.RESOLUTION
                agent_id = conv.assignee_id
                _settle(target, State.MET if met else State.CLOSED, at=now, agent_id=agent_id)
            elif is_paused_status(conv.status) and target.state == State.RUNNING:
                target.remaining_s = remaining_seconds(target, clock, now)
                target.state = State.PAUSED
                target.due_at = target.warn_at = None
                _set_alert(target)
            elif not is_paused_status(conv.status) and target.state == State.PAUSED:
                if kind == Kind.WINDOW:
                    fresh = window_target(conv)
                    target.state, target.due_at, target.warn_at = State.RUNNING, None, None
                    if fresh is not None:
                        target.due_at, target.warn_at = fresh.due_at, fresh.warn_at
                    _set_alert(target)
                else:
                    _run_from(target, clock, now, target.remaining_s or 0.0)
            else:
                continue
            changed.append(target)
    _save(changed)


@transaction.atomic
def on_tags_changed(conversation_ids: Iterable[int], *, now: datetime) -> None:
    """A tag came or went: the conversation's policy may change; live clocks keep the time they
    have used and take the new policy's lengths."""
    conversations = _conversations(conversation_ids)
    if not conversations:
        return
    context = Context(conversations)
    live = _live(conversation_ids, kinds=list(SlaTarget.POLICY_KINDS))
    changed = []
    for conv in conversations:
        policy = context.policy(conv)
        for kind in SlaTarget.POLICY_KINDS:
            target = live.get((conv.pk, kind))
            if target is None or target.policy_id == (policy.pk if policy else None):
                continue
            length = policy.target(kind) if policy else None
            if length is None:
                _settle(target, State.CLOSED, at=now, agent_id=None)
                changed.append(target)
                continue
            old_clock = context.clock(conv.channel_id, target.business)
            if target.state == State.RUNNING:
                left = remaining_seconds(target, old_clock, now)
            else:
                left = target.remaining_s or 0.0
            used = target.target_s - left
            target.policy, target.business = policy, policy.business_hours
            target.target_s = length.total_seconds()
            target.warned_at = None if target.breached_at is None else target.warned_at
            left = target.target_s - used
            if target.state == State.RUNNING:
                _run_from(target, context.clock(conv.channel_id, target.business), now, left)
                if target.due_at is not None and target.due_at <= now:
                    target.alert_at = now
            else:
                target.remaining_s = left
            changed.append(target)
    _save(changed)


# --- what the pages show ------------------------------------------------------------------------


def next_due(conversation_ids: Iterable[int]) -> dict[int, dict]:
    """Per conversation: its next due time among running policy clocks, whether one is already
    breached, and when the window closes if the desk must answer before (one query)."""
    found: dict[int, dict] = {}
    rows = SlaTarget.objects.filter(
        Q(state=State.RUNNING) | Q(state=State.PAUSED, breached_at__isnull=False),
        conversation_id__in=list(conversation_ids),
    ).values_list("conversation_id", "kind", "due_at", "breached_at", "warned_at")
    for conv_id, kind, due_at, breached_at, warned_at in rows:
        info = found.setdefault(
            conv_id,
            {
                "due_at": None,
                "kind": None,
                "breached": False,
                "window_closes_at": None,
                "window_alert": False,
            },
        )
        if kind == Kind.WINDOW:
            info["window_closes_at"] = due_at
            info["window_alert"] = warned_at is not None and breached_at is None
            continue
        if breached_at is not None:
            info["breached"] = True
        if due_at is not None and (info["due_at"] is None or due_at < info["due_at"]):
            info["due_at"], info["kind"] = due_at, kind
    return found
