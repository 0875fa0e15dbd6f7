"""Runs the automation rules on customers' messages, right after the inbound path commits.

``on_message_received`` is connected to ``conversations.signals.message_received``. For the
announced messages it reads, in one query each, the messages and the active rules of their
channels, records stop and start words first (``optout``), then matches each channel's rules in
order (``conditions.matches``: in memory, no query per rule) — all in the webhook's request,
which it costs about two indexed reads. The rules a message matched fire in one Celery task
(``tasks.fire_rules`` → ``actions.fire_matched``): the actions through the conversation services
as the system, one Event ``automation`` per firing naming the rule (the broker down: they fire in
the request instead).

No loops: only customers' messages start rules; while rules fire, any announcement their own
actions cause is ignored (``actions.running``), so a rule's actions never trigger rules again; a
rule fires at most once per message (its Event is looked for first).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import datetime

from django.utils import timezone

from automations import actions, conditions, optout, tasks
from automations.models import AutomationRule, OptOutChange
from conversations.models import Contact, Message

logger = logging.getLogger(__name__)


EVENT_KIND = actions.EVENT_KIND
TEXT_TYPES = ("text", "button", "interactive")


def on_message_received(sender, *, message_ids, created_conversation_ids=(), **kwargs) -> None:
    if actions.running.get() or not message_ids:
        return
    token = actions.running.set(True)
    try:
        run(list(message_ids), opened=set(created_conversation_ids or ()))
    finally:
        actions.running.reset(token)


def _inbound(message_ids: list[int]) -> list[dict]:
    return list(
        Message.objects.filter(
            pk__in=message_ids, direction=Message.Direction.INBOUND, via=""
        )
        .order_by("id")
        .values("id", "channel_id", "conversation_id", "type", "body", "payload",
                "provider_message_id", "conversation__contact_id")
    )  # fmt: skip


def _as_inbound(row: dict, opened: set[int]) -> conditions.Inbound:
    payload = row["payload"] if isinstance(row["payload"], dict) else {}
    button = payload.get("payload") if row["type"] == "button" else payload.get("id")
    return conditions.Inbound(
        channel_id=row["channel_id"],
        type=row["type"],
        text=row["body"] or "",
        button_payload=str(button or ""),
        opened_conversation=row["conversation_id"] in opened,
    )


def run(message_ids: list[int], *, opened: set[int], now: datetime | None = None) -> int:
    """Opt-out words, then the rules, for these messages; returns how many rules fired."""
    started = time.perf_counter()
    rows = _inbound(message_ids)
    if not rows:
        return 0
    for row in rows:
        if row["type"] in TEXT_TYPES:
            _opt_out_words(row, now=now)
    by_channel: dict[int, list[AutomationRule]] = defaultdict(list)
    for rule in AutomationRule.objects.filter(
        channel_id__in={r["channel_id"] for r in rows}, is_active=True
    ).order_by("position", "id"):
        by_channel[rule.channel_id].append(rule)
    fired = 0
    hours: dict[int, bool] = {}  # per channel, asked once per announcement (not per message)
    for row in rows:
        rules = by_channel.get(row["channel_id"])
        if rules:
            fired += _run_rules(rules, row, opened, hours, now=now)
    if fired:
        logger.info(
            "automations: %d rule(s) matched %d message(s) in %.1f ms",
            fired, len(rows), (time.perf_counter() - started) * 1000,
        )  # fmt: skip
    return fired


def _opt_out_words(row: dict, *, now) -> None:
    kind = optout.word_kind(row["body"] or "")
    if kind is None:
        return
    contact_id = row["conversation__contact_id"]
    try:
        optout.set_consent(
            Contact.objects.get(pk=contact_id),
            opted_out=kind == "stop",
            source=OptOutChange.Source.KEYWORD,
            evidence=f"{row['body'][:64]} ({row['provider_message_id']})",
            channel_id=row["channel_id"],
            now=now,
        )
    except Exception:
        logger.exception("opt-out word of message %s not recorded", row["id"])


def _run_rules(
    rules: list[AutomationRule], row: dict, opened: set[int], hours: dict[int, bool], *, now
) -> int:
    message = _as_inbound(row, opened)
    channel_id = row["channel_id"]

    def hours_open() -> bool:
        if channel_id not in hours:
            hours[channel_id] = actions.business_hours_open(channel_id, now or timezone.now())
        return hours[channel_id]

    matched = []
    for rule in rules:
        if conditions.matches(rule, message, hours_open=hours_open):
            matched.append(rule.pk)
            if rule.stop_processing:
                break
    if matched:
        at = (now or timezone.now()).isoformat()
        tasks.fire_rules.delay(row["id"], row["conversation_id"], matched, at)
    return len(matched)
