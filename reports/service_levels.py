"""The service-level figures of the reports page (issue 18; docs/service-levels.md).

- **% of targets met**: SLA clocks (first response, next response, resolution) settled in the
  period — met, or breached — per target, channel, agent, tag and day. A clock counts on the day
  it settled (met, or breached: the due moment); its agent is who met it, or who held the
  conversation when it breached. Clocks closed without an answer (resolved before a reply) and
  clocks still running are not counted.
- **First response and resolution in business hours**: the same conversations as the calendar
  figures (opened in the period and answered; resolved in the period), their times counted only
  while their channel was open (service_levels.hours); channels without business hours count
  calendar time. Median and 90th percentile, interpolated as ``percentile_cont``.
- **CSAT**: surveys sent in the period; response rate = answered / sent; score = the average
  answer (1-5) and the share of 4s and 5s; per agent (who resolved), tag and day; the latest
  comments.

The figures are a fixed set of queries (8) whatever the data size; only the business-hours
times are computed in Python, one bisection per conversation over each channel's open spans.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from django.contrib.auth import get_user_model
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncDate

from channels_app.models import Channel
from config.db_routing import reading_reports
from conversations.models import Conversation, Tag
from reports import build as report_build
from reports import conversation_figures
from reports.figures import Duration, Period, Spread
from reports.sql import Seconds, percentile_rows, person_name, spread
from service_levels import hours
from service_levels.models import CsatSurvey, SlaTarget

COMMENTS_SHOWN = 50
POLICY_KINDS = SlaTarget.POLICY_KINDS


@dataclass(frozen=True)
class MetRow:
    key: object
    name: str
    settled: int = 0
    met: int = 0

    @property
    def percent(self) -> float | None:
        return None if not self.settled else round(100.0 * self.met / self.settled, 1)


@dataclass(frozen=True)
class CsatRow:
    key: object
    name: str
    sent: int = 0
    answered: int = 0
    score_sum: int = 0
    satisfied: int = 0  # answers of 4 or 5

    @property
    def response_rate(self) -> float | None:
        return None if not self.sent else round(100.0 * self.answered / self.sent, 1)

    @property
    def average(self) -> float | None:
        return None if not self.answered else round(self.score_sum / self.answered, 2)

    @property
    def percent_satisfied(self) -> float | None:
        return None if not self.answered else round(100.0 * self.satisfied / self.answered, 1)


@dataclass(frozen=True)
class Comment:
    conversation_id: int
    score: int
    comment: str
    agent: str
    answered_at: datetime


@dataclass(frozen=True)
class ServiceLevels:
    targets: list[MetRow]  # per target kind, then the total (key None)
    channels: list[MetRow]
    agents: list[MetRow]
    tags: list[MetRow]
    days: list[MetRow]
    first_response_business: Spread
    resolution_business: Spread
    csat: CsatRow
    csat_agents: list[CsatRow]
    csat_tags: list[CsatRow]
    csat_days: list[CsatRow]
    comments: list[Comment] = field(default_factory=list)

    @property
    def total(self) -> MetRow:
        return self.targets[-1]

    @property
    def has_targets(self) -> bool:
        return bool(self.total.settled)

    def summary_rows(self) -> list[list]:
        """The headline figures as (identifier, value) rows, for the summary CSV: % of targets
        met overall and per target, the business-hours times, the CSAT score and response
        rate. Durations in seconds; an empty value when there is nothing to measure."""
        rows = [
            ["sla_settled", self.total.settled],
            ["sla_met", self.total.met],
            ["sla_met_percent", self.total.percent],
        ]
        for r in self.targets[:-1]:
            rows += [
                [f"sla_{r.key}_settled", r.settled],
                [f"sla_{r.key}_met", r.met],
                [f"sla_{r.key}_met_percent", r.percent],
            ]
        for name, s in (
            ("first_response_business", self.first_response_business),
            ("resolution_business", self.resolution_business),
        ):
            rows += [
                [f"{name}_count", s.count],
                [f"{name}_median_s", s.median.seconds],
                [f"{name}_p90_s", s.p90.seconds],
            ]
        c = self.csat
        return [
            *rows,
            ["csat_sent", c.sent],
            ["csat_answered", c.answered],
            ["csat_response_rate_percent", c.response_rate],
            ["csat_average_score", c.average],
            ["csat_satisfied_percent", c.percent_satisfied],
        ]

    def as_dict(self) -> dict:
        """Plain JSON-ready data (durations in seconds, days as ISO dates), for
        ``manage.py report --json``."""

        def met(rows):
            return [
                {
                    "key": r.key.isoformat() if isinstance(r.key, date) else r.key,
                    "name": r.name,
                    "settled": r.settled,
                    "met": r.met,
                    "percent": r.percent,
                }
                for r in rows
            ]

        def csat(rows):
            return [
                {
                    "key": r.key.isoformat() if isinstance(r.key, date) else r.key,
                    "name": r.name,
                    "sent": r.sent,
                    "answered": r.answered,
                    "response_rate": r.response_rate,
                    "average": r.average,
                    "percent_satisfied": r.percent_satisfied,
                }
                for r in rows
            ]

        def spread(s: Spread):
            return {"count": s.count, "median": s.median.seconds, "p90": s.p90.seconds}

        return {
            "targets": met(self.targets),
            "channels": met(self.channels),
            "agents": met(self.agents),
            "tags": met(self.tags),
            "days": met(self.days),
            "first_response_business": spread(self.first_response_business),
            "resolution_business": spread(self.resolution_business),
            "csat": csat([self.csat])[0],
            "csat_agents": csat(self.csat_agents),
            "csat_tags": csat(self.csat_tags),
            "csat_days": csat(self.csat_days),
            "comments": [
                {
                    "conversation_id": c.conversation_id,
                    "score": c.score,
                    "comment": c.comment,
                    "agent": c.agent,
                    "answered_at": c.answered_at.isoformat(),
                }
                for c in self.comments
            ],
        }


def percentile(values: list[float], p: float) -> float | None:
    """Linear interpolation between the closest ranks (PostgreSQL's percentile_cont)."""
    if not values:
        return None
    xs = sorted(values)
    pos = p * (len(xs) - 1)
    low = int(pos)
    high = min(low + 1, len(xs) - 1)
    return xs[low] + (xs[high] - xs[low]) * (pos - low)


def _spread(values: list[float]) -> Spread:
    return Spread(
        count=len(values),
        median=Duration(percentile(values, 0.5)),
        p90=Duration(percentile(values, 0.9)),
    )


def _names(user_ids) -> dict:
    users = get_user_model().objects.filter(pk__in={u for u in user_ids if u})
    return {u.pk: person_name(u.first_name, u.last_name, u.get_username()) for u in users}


MET = Count("id", filter=Q(breached_at__isnull=True))


def _met_rows(qs, key: str, names: dict, *, order_by_name=True) -> list[MetRow]:
    rows = [
        MetRow(
            key=r[key],
            name=names.get(r[key], str(r[key]) if r[key] is not None else "–"),
            settled=r["n"],
            met=r["met"],
        )
        for r in qs.values(key).annotate(n=Count("id"), met=MET).order_by()
    ]
    return sorted(rows, key=lambda r: r.name.lower() if order_by_name else r.key)


def _business_times(ids: Sequence[int], period: Period):
    if report_build._whole_hours(period):  # the rule of the whole report
        # From the roll-up: the business seconds were counted when each hour was rolled up.
        return conversation_figures.business_spreads(list(ids), period)
    return _business_times_direct(ids, period)


def _business_times_direct(ids: Sequence[int], period: Period):
    """Every conversation of the period into Python, one bisection each (the periods whose
    days are not whole UTC hours; the reference the roll-up is tested against)."""
    start, end = period.start, period.end
    answered_qs = Conversation.objects.filter(
        channel_id__in=ids, opened_at__gte=start, opened_at__lt=end, first_response_at__isnull=False
    )
    resolved_qs = Conversation.objects.filter(
        channel_id__in=ids, resolved_at__gte=start, resolved_at__lt=end
    )
    schedules = hours.schedules(ids)  # for every channel, so the query count is constant
    if all(s is hours.ALWAYS_OPEN for s in schedules.values()):
        # Around the clock, business time is calendar time: the percentiles in SQL, as the
        # report's own figures, instead of every conversation of the range in Python (2M rows
        # with 10M messages in range).
        def in_sql(qs, end_field: str) -> Spread:
            d = Seconds(F(end_field), F("opened_at"))
            return spread(percentile_rows(qs.values(d=d), extras={"n_d": "COUNT(d)"})[0])

        return in_sql(answered_qs, "first_response_at"), in_sql(resolved_qs, "resolved_at")
    answered = list(answered_qs.values_list("channel_id", "opened_at", "first_response_at"))
    resolved = list(resolved_qs.values_list("channel_id", "opened_at", "resolved_at"))
    rows = answered + resolved
    if not rows:
        return Spread(), Spread()
    lo = min(r[1] for r in rows)
    hi = max(r[2] for r in rows)
    index = {cid: hours.SpanIndex(s, lo, hi) for cid, s in schedules.items()}
    first = [index[c].seconds(a, b) for c, a, b in answered]
    resolution = [index[c].seconds(a, b) for c, a, b in resolved]
    return _spread(first), _spread(resolution)


def _csat_rows(qs, key: str, names: dict) -> list[CsatRow]:
    rows = [
        CsatRow(
            key=r[key],
            name=names.get(r[key], str(r[key]) if r[key] is not None else "–"),
            sent=r["sent"],
            answered=r["answered"],
            score_sum=r["score_sum"] or 0,
            satisfied=r["satisfied"],
        )
        for r in qs.values(key).annotate(**CSAT_AGGREGATES).order_by()
    ]
    return sorted(rows, key=lambda r: str(r.name).lower())


CSAT_AGGREGATES = {
    "sent": Count("id"),
    "answered": Count("id", filter=Q(score__isnull=False)),
    "score_sum": Sum("score"),
    "satisfied": Count("id", filter=Q(score__gte=4)),
}


def build(*, channel_ids, period: Period) -> ServiceLevels:
    """Every service-level figure for these channels and days (the caller checked access);
    reads from the replica like every report (config/db_routing.py)."""
    with reading_reports():
        return _build(list(channel_ids), period)


def _build(ids: list[int], period: Period) -> ServiceLevels:
    tz = period.tz
    targets = SlaTarget.objects.filter(
        channel_id__in=ids,
        kind__in=POLICY_KINDS,
        settled_at__gte=period.start,
        settled_at__lt=period.end,
    )
    kind_names = {k: str(SlaTarget.Kind(k).label) for k in POLICY_KINDS}
    by_kind = {r.key: r for r in _met_rows(targets, "kind", kind_names)}
    kinds = [by_kind.get(k, MetRow(key=k, name=kind_names[k])) for k in POLICY_KINDS]
    total = MetRow(
        key=None,
        name="",
        settled=sum(r.settled for r in kinds),
        met=sum(r.met for r in kinds),
    )
    agents_qs = targets.values("agent_id")
    tags = dict(Tag.objects.values_list("id", "name"))
    channels = {c.pk: str(c) for c in _channels(ids)}
    per_agent = [
        MetRow(key=r["agent_id"], name="", settled=r["n"], met=r["met"])
        for r in agents_qs.annotate(n=Count("id"), met=MET).order_by()
    ]
    surveys = CsatSurvey.objects.filter(
        channel_id__in=ids,
        sent_at__gte=period.start,
        sent_at__lt=period.end,
        state__in=[CsatSurvey.State.SENT, CsatSurvey.State.ANSWERED],
    )
    csat_agent_rows = list(surveys.values("agent_id").annotate(**CSAT_AGGREGATES).order_by())
    comments = list(
        surveys.filter(score__isnull=False)
        .exclude(comment="")
        .order_by("-answered_at")
        .values_list("conversation_id", "score", "comment", "agent_id", "answered_at")[
            :COMMENTS_SHOWN
        ]
    )
    names = _names(
        [r.key for r in per_agent]
        + [r["agent_id"] for r in csat_agent_rows]
        + [c[3] for c in comments]
    )
    first_business, resolution_business = _business_times(ids, period)
    csat_total = surveys.aggregate(**CSAT_AGGREGATES)
    return ServiceLevels(
        targets=[*kinds, total],
        channels=_met_rows(targets, "channel_id", channels),
        agents=sorted(
            (MetRow(r.key, names.get(r.key, "–"), r.settled, r.met) for r in per_agent),
            key=lambda r: r.name.lower(),
        ),
        tags=_met_rows(
            targets.annotate(tag=F("conversation__tags")).exclude(tag=None), "tag", tags
        ),
        days=_met_rows(
            targets.annotate(day=TruncDate("settled_at", tzinfo=tz)), "day", {}, order_by_name=False
        ),
        first_response_business=first_business,
        resolution_business=resolution_business,
        csat=CsatRow(
            key=None,
            name="",
            sent=csat_total["sent"],
            answered=csat_total["answered"],
            score_sum=csat_total["score_sum"] or 0,
            satisfied=csat_total["satisfied"],
        ),
        csat_agents=[
            CsatRow(
                key=r["agent_id"],
                name=names.get(r["agent_id"], "–"),
                sent=r["sent"],
                answered=r["answered"],
                score_sum=r["score_sum"] or 0,
                satisfied=r["satisfied"],
            )
            for r in sorted(csat_agent_rows, key=lambda r: names.get(r["agent_id"], "").lower())
        ],
        csat_tags=_csat_rows(
            surveys.annotate(tag=F("conversation__tags")).exclude(tag=None), "tag", tags
        ),
        csat_days=sorted(
            _csat_rows(surveys.annotate(day=TruncDate("sent_at", tzinfo=tz)), "day", {}),
            key=lambda r: r.key,
        ),
        comments=[
            Comment(conversation_id=c, score=s, comment=t, agent=names.get(a, "–"), answered_at=at)
            for c, s, t, a, at in comments
        ],
    )


def _channels(ids):
    return Channel.objects.filter(pk__in=ids)
