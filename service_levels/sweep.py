"""The periodic SLA sweep: warnings at 80 %, breaches at 100 %, the window's last hour.

Beat runs it every ``SLA_SWEEP_EVERY_S`` seconds (15 by default, so an alert is recorded well
within 60 s of its moment). A run claims due clocks through the partial index on ``alert_at``
in batches (``FOR UPDATE SKIP LOCKED``: two overlapping runs never take the same row), writes
them with a handful of set-based statements per batch, appends one Event per alert, and pushes
the alerts after the batch commits. A run is bounded (``max_batches``), so after a worker outage
the backlog is caught up in one pass of a known size: a clock whose warning and breach both
passed while nobody swept gets the breach only (its warning is marked as done with it).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import F, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone, translation
from django.utils.translation import gettext, ngettext

from conversations.models import Conversation, Event
from realtime import push
from service_levels.models import SlaTarget

DEFAULT_BATCH_SIZE = 1000
DEFAULT_MAX_BATCHES = 500
# Above this many alerts of one channel in one batch (a catch-up), the screens get one summary
# push per person instead of one per conversation.
PUSH_EACH_UP_TO = 50

Kind = SlaTarget.Kind

EVENT_WARNING = "sla_warning"
EVENT_BREACHED = "sla_breached"
EVENT_WINDOW = "window_closing"


@dataclass
class Alert:
    conversation_id: int
    channel_id: int
    kind: str  # the target kind
    event: str  # EVENT_*
    due_at: datetime


@dataclass
class Summary:
    counts: Counter = field(default_factory=Counter)
    batches: int = 0
    elapsed: float = 0.0


def _claim(now: datetime, size: int) -> list[tuple]:
    return list(
        SlaTarget.objects.select_for_update(skip_locked=True)
        .filter(alert_at__lte=now)
        .order_by("alert_at")
        .values_list("id", "conversation_id", "channel_id", "kind", "due_at", "warned_at")[:size]
    )


def sweep_batch(*, now: datetime, batch_size: int = DEFAULT_BATCH_SIZE) -> tuple[int, list[Alert]]:
    """One batch in one transaction: how many clocks it claimed, and the alerts it recorded
    (pushed after commit)."""
    with transaction.atomic():
        rows = _claim(now, batch_size)
        if not rows:
            return 0, []
        warn_ids, breach_ids, window_warn_ids, window_closed_ids = [], [], [], []
        alerts: list[Alert] = []
        for pk, conv_id, channel_id, kind, due_at, warned_at in rows:
            due = due_at is not None and due_at <= now
            if kind == Kind.WINDOW:
                if due:
                    window_closed_ids.append(pk)  # closed: only templates remain; no alert
                else:
                    window_warn_ids.append(pk)
                    alerts.append(Alert(conv_id, channel_id, kind, EVENT_WINDOW, due_at))
            elif due:
                breach_ids.append(pk)
                alerts.append(Alert(conv_id, channel_id, kind, EVENT_BREACHED, due_at))
            elif warned_at is None:
                warn_ids.append(pk)
                alerts.append(Alert(conv_id, channel_id, kind, EVENT_WARNING, due_at))
            else:
                warn_ids.append(pk)  # warned already: only its alert moves on to the due time
        targets = SlaTarget.objects.all()
        if warn_ids or window_warn_ids:
            targets.filter(pk__in=warn_ids + window_warn_ids).update(
                warned_at=Coalesce(F("warned_at"), Value(now)), alert_at=F("due_at")
            )
        if breach_ids:
            assignee = Conversation.objects.filter(pk=OuterRef("conversation_id")).values(
                "assignee_id"
            )[:1]
            targets.filter(pk__in=breach_ids).update(
                breached_at=F("due_at"),
                settled_at=F("due_at"),
                warned_at=Coalesce(F("warned_at"), Value(now)),
                alert_at=None,
                agent_id=Subquery(assignee),
            )
        if window_closed_ids:
            targets.filter(pk__in=window_closed_ids).update(
                state=SlaTarget.State.CLOSED, breached_at=F("due_at"), alert_at=None
            )
        Event.objects.bulk_create(
            Event(
                conversation_id=a.conversation_id,
                kind=a.event,
                actor=None,
                data={"target": a.kind, "due_at": a.due_at.isoformat()},
                created_at=now,
            )
            for a in alerts
        )
        if alerts:
            transaction.on_commit(lambda: push_alerts(alerts))
        return len(rows), alerts


def _texts(alert: Alert | None, count: int = 0) -> dict:
    """The alert's line in each of the desk's languages (realtime merges the socket's one into
    ``data`` as ``text``)."""
    out = {}
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            if alert is None:
                text = ngettext("%(n)s SLA alert", "%(n)s SLA alerts", count) % {"n": count}
            else:
                target = str(SlaTarget.Kind(alert.kind).label)
                values = {"id": alert.conversation_id, "target": target}
                text = {
                    EVENT_WARNING: gettext("SLA warning on #%(id)s: %(target)s due soon"),
                    EVENT_BREACHED: gettext("SLA target missed on #%(id)s: %(target)s"),
                    EVENT_WINDOW: gettext("#%(id)s: the reply window closes within the hour"),
                }[alert.event] % values
        out[code] = {"text": text}
    return out


def push_alerts(alerts: list[Alert]) -> None:
    """To the assignee (the Supervisors when there is none, for the window) and the channel's
    Supervisors; a summary per person when a batch holds many of one channel."""
    assignees = dict(
        Conversation.objects.filter(pk__in={a.conversation_id for a in alerts}).values_list(
            "id", "assignee_id"
        )
    )
    by_channel: dict[int, list[Alert]] = defaultdict(list)
    for alert in alerts:
        by_channel[alert.channel_id].append(alert)
    for channel_id, items in by_channel.items():
        data = [
            {
                "conversation_id": a.conversation_id,
                "kind": a.event,
                "target": a.kind,
                "due_at": a.due_at.isoformat(),
                "assignee_id": assignees.get(a.conversation_id),
            }
            for a in items
        ]
        if len(items) > PUSH_EACH_UP_TO:
            push.push_to_supervisors(
                channel_id,
                "sla.summary",
                {"alerts": len(items)},
                by_language=_texts(None, len(items)),
            )
            per_user = Counter(d["assignee_id"] for d in data if d["assignee_id"])
            for user_id, count in per_user.items():
                push.push_to_user(
                    user_id, "sla.summary", {"alerts": count}, by_language=_texts(None, count)
                )
            continue
        for alert, item in zip(items, data, strict=True):
            texts = _texts(alert)
            push.push_to_supervisors(channel_id, "sla.alert", item, by_language=texts)
            if item["assignee_id"]:
                push.push_to_user(item["assignee_id"], "sla.alert", item, by_language=texts)


def sweep(
    *,
    now: datetime | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_batches: int = DEFAULT_MAX_BATCHES,
) -> Summary:
    """Batches until nothing is due or ``max_batches`` ran (one bounded pass)."""
    now = now or timezone.now()
    summary = Summary()
    started = time.monotonic()
    for _ in range(max_batches):
        claimed, alerts = sweep_batch(now=now, batch_size=batch_size)
        if not claimed:
            break
        summary.batches += 1
        summary.counts.update(a.event for a in alerts)
    summary.elapsed = time.monotonic() - started
    return summary
