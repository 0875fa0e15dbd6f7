"""What a fired rule does, each action through the conversation services as the system.

Actions run in a fixed order (labels, priority, routing, sending, resolving last, so that a
reply still goes out on the conversation it resolves). Each runs in a savepoint: one refused
(a saved reply outside the 24-hour window, a marketing template to an opted-out customer) is
recorded with its reason in the rule's Event, and the others still run.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from automations.models import AutomationRule
from channels_app.access import Cap, users_holding
from channels_app.models import Team
from conversations import services
from conversations.models import Conversation, Event
from conversations.services import priority, system_messages
from replies import placeholders
from routing import engine as routing_engine
from routing.models import AgentState, Availability
from service_levels import hours

logger = logging.getLogger(__name__)

EVENT_KIND = "automation"

# True while rules fire: an announcement their own actions cause starts no rules (no loops).
running: contextvars.ContextVar[bool] = contextvars.ContextVar("automations", default=False)

Step = Callable[[Conversation, datetime], object]


def business_hours_open(channel_id: int, at: datetime) -> bool:
    """Whether the channel is inside its business hours (service_levels.hours)."""
    return hours.is_open(channel_id, at)


def route_to_team(conversation: Conversation, team: Team, *, now: datetime):
    """Give the conversation to the team member best placed to take it: one who may be
    assigned on the channel (Cap.BE_ASSIGNED), Available before Away before Offline (routing's
    presence), then the fewest open conversations (routing's load). Assigned through
    services.assign as the system; refused (DomainError) when no member may take it."""
    if conversation.assignee_id and team.members.filter(pk=conversation.assignee_id).exists():
        return conversation  # already with the team
    members = list(
        users_holding(Cap.BE_ASSIGNED, conversation.channel).filter(desk_teams=team).distinct()
    )
    if not members:
        raise services.DomainError(_("No member of the team %(team)s can be assigned on this "
                                     "channel.") % {"team": team.name})  # fmt: skip
    ids = [u.pk for u in members]
    availability = dict(
        AgentState.objects.filter(user_id__in=ids).values_list("user_id", "availability")
    )
    rank = {Availability.AVAILABLE: 0, Availability.AWAY: 1}
    load = routing_engine.loads(ids)
    best = min(members, key=lambda u: (rank.get(availability.get(u.pk), 2), load[u.pk], u.pk))
    return services.assign(conversation, assignee=best, actor=None, now=now)


def _send_saved_reply(rule: AutomationRule) -> Step:
    def step(conversation: Conversation, now: datetime):
        text = placeholders.render(
            rule.send_saved_reply.body, placeholders.PlaceholderValues.of(conversation=conversation)
        )
        return system_messages.send_system_message(conversation, body=text, now=now)

    return step


def steps(rule: AutomationRule) -> list[tuple[str, Step]]:
    """The rule's actions in the order they run, each a function of (conversation, now)."""
    found: list[tuple[str, Step]] = []
    if rule.add_tag_id:
        found.append(("tag", lambda c, now: services.add_tag(
            c, tag=rule.add_tag, actor=None, now=now)))  # fmt: skip
    if rule.add_topic_id:
        found.append(("topic", lambda c, now: services.add_topic(
            c, topic=rule.add_topic, actor=None, now=now)))  # fmt: skip
    if rule.set_priority is not None:
        found.append(("priority", lambda c, now: priority.set_priority(
            c, priority=rule.set_priority, actor=None, now=now)))  # fmt: skip
    if rule.route_to_team_id:
        found.append(("team", lambda c, now: route_to_team(c, rule.route_to_team, now=now)))
    if rule.send_saved_reply_id:
        found.append(("saved_reply", _send_saved_reply(rule)))
    if rule.send_template_id:
        found.append(("template", lambda c, now: services.send_template(
            c, author=None, template=rule.send_template,
            params=rule.template_param_list(), now=now)))  # fmt: skip
    if rule.resolve:
        found.append(("resolve", lambda c, now: services.move_conversation(
            c, to=Conversation.Status.RESOLVED, actor=None, now=now)))  # fmt: skip
    return found


def fire(rule: AutomationRule, *, conversation_id: int, message_id: int, now: datetime) -> dict:
    """Apply ``rule``'s actions to the conversation and record the firing (one Event).
    Returns what each action did: "done" or "refused: <reason>"."""
    conversation = Conversation.objects.select_related("channel", "contact").get(
        pk=conversation_id
    )
    done: dict[str, str] = {}
    for name, step in steps(rule):
        try:
            with transaction.atomic():
                step(conversation, now)
            done[name] = "done"
        except services.DomainError as exc:
            done[name] = f"refused: {exc.message}"
            logger.info("automation rule %s: %s refused: %s", rule.pk, name, exc.message)
        conversation.refresh_from_db()
    services.record_event(
        conversation,
        kind=EVENT_KIND,
        actor=None,
        data={"rule": rule.pk, "name": rule.name, "message": message_id, "actions": done},
        now=now,
    )
    return done


def fire_matched(message_id: int, conversation_id: int, rule_ids: list[int], *, at: str) -> int:
    """Fire the matched rules in order, each in its own transaction and at most once per
    message (a redelivered task finds the rule's Event and skips it). Announcements the actions
    cause are ignored while they run (no loops)."""
    now = parse_datetime(at) or timezone.now()
    rules = {r.pk: r for r in AutomationRule.objects.filter(pk__in=rule_ids, is_active=True)}
    token = running.set(True)
    fired = 0
    try:
        for rule_id in rule_ids:
            rule = rules.get(rule_id)
            if rule is None or Event.objects.filter(
                conversation_id=conversation_id, kind=EVENT_KIND,
                data__rule=rule_id, data__message=message_id,
            ).exists():  # fmt: skip
                continue
            try:
                with transaction.atomic():
                    fire(rule, conversation_id=conversation_id, message_id=message_id,
                                 now=now)  # fmt: skip
            except Exception:
                # One broken rule costs neither the message (committed) nor the other rules.
                logger.exception("automation rule %s failed on message %s", rule_id, message_id)
                continue
            fired += 1
    finally:
        running.reset(token)
    return fired
