"""What messaging costs: the billable messages of a period, from the ``pricing`` block WhatsApp
puts on each status webhook (stored on the message as ``payload["pricing"]`` by the status
path, once per message).

A message is billable when its block says ``billable: true``, or, under per-message pricing
where ``billable`` is deprecated and may be missing, when its ``type`` is ``regular`` (the free
types are ``free_customer_service`` and ``free_entry_point``). Rolled up per category, channel,
agent and template; ``settings.MESSAGING_RATES`` (per category, in the account's currency, empty
by default) turns the counts into an estimate. One grouped query. See docs/reports.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, Sum
from django.db.models.functions import TruncHour
from django.utils.translation import gettext as _

from channels_app.models import Channel, MessageTemplate
from config.db_routing import reading_reports
from conversations.models import Message
from reports.models import CostTally, TallyWatermark

CATEGORIES = ("marketing", "utility", "authentication", "service")


@dataclass
class CostRow:
    name: str
    billable: int = 0
    free: int = 0
    cost: Decimal = Decimal(0)


@dataclass
class Costs:
    by_category: list[CostRow] = field(default_factory=list)
    by_channel: list[CostRow] = field(default_factory=list)
    by_agent: list[CostRow] = field(default_factory=list)
    by_template: list[CostRow] = field(default_factory=list)
    billable: int = 0
    free: int = 0
    cost: Decimal = Decimal(0)
    has_rates: bool = False


def is_billable(pricing: dict) -> bool:
    if isinstance(pricing.get("billable"), bool):
        return pricing["billable"]
    return pricing.get("type") == "regular"


def rates() -> dict[str, Decimal]:
    configured = getattr(settings, "MESSAGING_RATES", {}) or {}
    return {str(k).lower(): Decimal(str(v)) for k, v in configured.items()}


def messaging_costs(*, channel_ids: list[int], start: datetime, end: datetime) -> Costs:
    """The period's costs; reads from the replica like every report (config/db_routing.py)."""
    with reading_reports():
        return _messaging_costs(channel_ids, start, end)


def _priced(messages) -> Iterator[tuple]:
    """(channel, author, template, category, billable, count, hour) of these messages' priced
    outbound ones: grouped in SQL by their pricing block (a handful of distinct ones)."""
    fields = ["channel_id", "author_id", "template_id", "payload__pricing"]
    if "hour" in messages.query.annotations:
        fields.append("hour")
    rows = (
        messages.filter(direction=Message.Direction.OUTBOUND, payload__has_key="pricing")
        .values(*fields)
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        pricing = row["payload__pricing"] if isinstance(row["payload__pricing"], dict) else {}
        category = str(pricing.get("category") or "unknown").lower()[:40]
        yield (
            row["channel_id"], row["author_id"], row["template_id"], category,
            is_billable(pricing), row["n"], row.get("hour"),
        )  # fmt: skip


def recount(*, start: datetime | None, end: datetime, channel_ids) -> int:
    """Replace the cost tallies of the hours in [start, end) (all before ``end`` when start is
    None) of these channels (all when None); ``reports.tallies`` calls it with the message
    tallies' hours, in their transaction. Returns the rows written."""
    messages = Message.objects.filter(created_at__lt=end)
    tallies = CostTally.objects.filter(hour__lt=end)
    if start is not None:
        messages = messages.filter(created_at__gte=start)
        tallies = tallies.filter(hour__gte=start)
    if channel_ids is not None:
        messages = messages.filter(channel_id__in=list(channel_ids))
        tallies = tallies.filter(channel_id__in=list(channel_ids))
    tallies.delete()
    counts: dict[tuple, int] = defaultdict(int)
    hourly = messages.annotate(hour=TruncHour("created_at", tzinfo=UTC))
    for channel, author, template, category, billable, n, hour in _priced(hourly):
        counts[(channel, hour, author or 0, template or 0, category, billable)] += n
    CostTally.objects.bulk_create(
        (
            CostTally(channel_id=c, hour=h, author_key=a, template_key=t, category=k, billable=b,
                      count=n)
            for (c, h, a, t, k, b), n in counts.items()
        ),
        batch_size=5000,
    )  # fmt: skip
    return len(counts)


def _whole_hours(*moments: datetime) -> bool:
    return all(m.astimezone(UTC).minute == 0 and m.astimezone(UTC).second == 0 for m in moments)


def _cost_rows(channel_ids: list[int], start: datetime, end: datetime) -> Iterator[tuple]:
    """The period's priced messages: the cost tallies of the hours before the roll-up watermark
    and the messages from it on (when the period is whole UTC hours; else all messages)."""
    live_from = start
    if _whole_hours(start, end):
        upto = TallyWatermark.objects.values_list("upto", flat=True).order_by("pk").first()
        if upto is not None:
            live_from = max(start, min(end, upto))
            stored = (
                CostTally.objects.filter(
                    channel_id__in=channel_ids, hour__gte=start, hour__lt=live_from
                )
                .values("channel_id", "author_key", "template_key", "category", "billable")
                .annotate(n=Sum("count"))
                .order_by()
            )
            for r in stored:
                yield (
                    r["channel_id"], r["author_key"] or None, r["template_key"] or None,
                    r["category"], r["billable"], r["n"], None,
                )  # fmt: skip
    yield from _priced(
        Message.objects.filter(
            channel_id__in=channel_ids, created_at__gte=live_from, created_at__lt=end
        )
    )


def _messaging_costs(channel_ids: list[int], start: datetime, end: datetime) -> Costs:
    price = rates()
    groups: dict[str, dict] = {k: defaultdict(lambda: [0, 0, Decimal(0)]) for k in
                               ("category", "channel", "agent", "template")}  # fmt: skip
    costs = Costs(has_rates=bool(price))
    for channel_id, author_id, template_id, category, billable, n, _hour in _cost_rows(
        channel_ids, start, end
    ):
        amount = price.get(category, Decimal(0)) * n if billable else Decimal(0)
        keys = {"category": category, "channel": channel_id, "agent": author_id,
                "template": template_id}  # fmt: skip
        for group, key in keys.items():
            cell = groups[group][key]
            cell[0 if billable else 1] += n
            cell[2] += amount
        if billable:
            costs.billable += n
        else:
            costs.free += n
        costs.cost += amount
    labels = {"marketing": _("Marketing"), "utility": _("Utility"),
              "authentication": _("Authentication"), "service": _("Service")}  # fmt: skip
    costs.by_category = _rows(groups["category"], {c: labels.get(c, c) for c in groups["category"]})
    costs.by_channel = _rows(groups["channel"], dict(
        Channel.objects.filter(pk__in=list(groups["channel"])).values_list("pk", "display_name")
    ))  # fmt: skip
    users = get_user_model().objects.filter(pk__in=[k for k in groups["agent"] if k])
    names = {u.pk: u.get_full_name() or u.get_username() for u in users}
    costs.by_agent = _rows(groups["agent"], names, none=_("The system or the API"))
    costs.by_template = _rows(groups["template"], {
        t.pk: f"{t.name} ({t.language})"
        for t in MessageTemplate.objects.filter(pk__in=[k for k in groups["template"] if k])
    }, none=_("Free-form messages"))  # fmt: skip
    return costs


def _rows(group: dict, names: dict, *, none: str = "?") -> list[CostRow]:
    rows = [
        CostRow(name=str(names.get(key, none if key is None else key)), billable=b, free=f, cost=c)
        for key, (b, f, c) in group.items()
    ]
    return sorted(rows, key=lambda r: (-r.billable, -r.free, r.name))
