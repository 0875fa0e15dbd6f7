"""Supervisor reports: every figure of the reports page, computed by the database.

``build_report`` runs a fixed set of aggregate queries (constant whatever the data size) over the
conversations, messages and events of a set of channels and a date range, and returns plain
dataclasses. Nothing here loads conversations or messages into Python: rows that come back are
already aggregated (one per day, per agent, per tag or per topic).

Percentiles are ``percentile_cont`` on PostgreSQL. SQLite has no ordered-set aggregates, so there
the same linear interpolation is computed with window functions (ROW_NUMBER, COUNT, LEAD) over
the durations, in SQL. Days are the user's days: the time-zone conversion happens in SQL
(``TruncDate(tzinfo=...)``), and the range is half-open, from midnight of the first day to
midnight after the last, both in that zone. See docs/reports.md for every definition.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from django.db import transaction
from django.db.models import (
    Count,
    DateTimeField,
    F,
    IntegerField,
    Min,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce, TruncDate

# The connection of the database the report reads (replica or primary), inside build_report.
from config import db_features
from config.db_routing import read_connection as connection
from config.db_routing import reading_reports
from conversations import rules
from conversations.models import Conversation, Event, Message, Tag, Topic
from reports import conversation_figures
from reports.conversation_figures import Parts
from reports.figures import (
    PERCENTILES,
    AgentRow,
    Day,
    Duration,
    LabelRow,
    Period,
    Queue,
    Report,
    Summary,
)
from reports.models import MessageTally, TallyWatermark
from reports.sql import (
    Seconds,
    as_date,
    as_float,
    fetch,
    named_sql,
    percentile_rows,
    percentile_sql,
    person_name,
    split_total,
    spread,
    with_names,
)

RESOLVED = Conversation.Status.RESOLVED
OUT = Message.Direction.OUTBOUND
IN = Message.Direction.INBOUND
AUTO_RESOLUTIONS = (Conversation.Resolution.AUTO_NEW, Conversation.Resolution.AUTO_PENDING)


def _opened(channel_ids: Sequence[int], period: Period) -> QuerySet:
    return Conversation.objects.filter(
        channel_id__in=channel_ids, opened_at__gte=period.start, opened_at__lt=period.end
    )


def _first_response_seconds() -> Seconds:
    return Seconds(F("first_response_at"), F("opened_at"))


def _first_responders(channel_ids: Sequence[int], period: Period) -> list[dict]:
    """Per agent: how many conversations opened in the period they answered first, and the
    median/p90 of those first-response times. The first responder is the author of the
    conversation's first outbound message, kept on the conversation by the services
    (``first_responder``, rebuilt by ``reports.tallies.rebuild``)."""
    inner = (
        _opened(channel_ids, period)
        .filter(first_response_at__isnull=False, first_responder__isnull=False)
        .values(g=F("first_responder_id"), d=_first_response_seconds())
    )
    inner_sql, params = inner.order_by().query.sql_with_params()
    sql = percentile_sql(inner_sql, groups=["g"], extras={"n_d": "COUNT(d)"})
    return fetch(named_sql(sql, "g"), params)


def _whole_hours(period: Period) -> bool:
    """True when both ends of the period are whole UTC hours, so that its days are whole
    numbers of the message tallies' hours (every zone with a whole-hour offset)."""
    return all(
        moment.astimezone(UTC).minute == 0 and moment.astimezone(UTC).second == 0
        for moment in (period.start, period.end)
    )


# Before any message: "nothing rolled up yet" counts every message live.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


def _message_groups_sql(channel_ids: Sequence[int], period: Period) -> tuple[str, tuple]:
    """One statement: messages of the period per (day, author): ``n_in``, ``n_out``,
    ``n_outside``.

    When the period's days are whole UTC hours, the hours before the roll-up watermark come
    from the tallies (a few thousand rows for a million messages) and the messages from the
    watermark on are counted live (an hour or so, through msg_channel_time); the watermark is
    read in the same statement, so a roll-up committing meanwhile is seen entirely or not at
    all. Otherwise (a zone such as Asia/Kolkata) every message is counted."""
    tz = period.tz
    messages = Message.objects.filter(
        channel_id__in=channel_ids, created_at__gte=period.start, created_at__lt=period.end
    )
    parts = []
    if _whole_hours(period):
        upto = Subquery(
            TallyWatermark.objects.order_by("pk").values("upto")[:1],
            output_field=DateTimeField(),
        )
        parts.append(
            MessageTally.objects.filter(
                channel_id__in=channel_ids, hour__gte=period.start, hour__lt=period.end
            )
            .filter(hour__lt=upto)
            .annotate(day=TruncDate("hour", tzinfo=tz))
            .values(
                "day",
                who=F("author_key"),
                dir=F("direction"),
                outside=F("outside_window"),
                n=F("count"),
            )
        )
        messages = messages.filter(created_at__gte=Coalesce(upto, Value(EARLIEST)))
    parts.append(
        messages.annotate(day=TruncDate("created_at", tzinfo=tz)).values(
            "day",
            who=Coalesce("author_id", Value(0), output_field=IntegerField()),
            dir=F("direction"),
            outside=F("sent_outside_window"),
            n=Value(1, output_field=IntegerField()),
        )
    )
    sqls, params = [], []
    for part in parts:
        sql, part_params = part.order_by().query.sql_with_params()
        sqls.append(f"SELECT day, who, dir, outside, n FROM ({sql}) p")  # noqa: S608
        params.extend(part_params)
    union = " UNION ALL ".join(sqls)
    sql = (
        "SELECT day, who AS author_id, "  # noqa: S608
        f"SUM(CASE WHEN dir = '{IN}' THEN n ELSE 0 END) AS n_in, "
        f"SUM(CASE WHEN dir = '{OUT}' THEN n ELSE 0 END) AS n_out, "
        f"SUM(CASE WHEN dir = '{OUT}' AND outside THEN n ELSE 0 END) AS n_outside "
        f"FROM ({union}) u GROUP BY day, who"
    )
    return sql, tuple(params)


def _label_rows(channel_ids: Sequence[int], period: Period) -> tuple[list, list]:
    """(tags, topics): per tag and per topic, the conversations opened in the period carrying
    it, how many of them are resolved now, and their median first response. One statement:
    the conversations are read once and joined to both link tables at once."""
    opened = _opened(channel_ids, period).values("id", "status", d=_first_response_seconds())
    opened_sql, params = opened.order_by().query.sql_with_params()
    q = connection.ops.quote_name
    tags, topics = Conversation.tags.through, Conversation.topics.through
    # k: 1 for a tag, 2 for a topic (an integer sorts faster than a word).
    links = (
        f"SELECT conversation_id, 1 AS k, tag_id AS g FROM {q(tags._meta.db_table)} "  # noqa: S608
        f"UNION ALL SELECT conversation_id, 2 AS k, topic_id AS g "
        f"FROM {q(topics._meta.db_table)}"
    )
    inner = (
        f"SELECT l.k, l.g, o.status, o.d FROM ({opened_sql}) o "  # noqa: S608
        f"JOIN ({links}) l ON l.conversation_id = o.id"
    )
    sql = percentile_sql(
        inner,
        groups=["k", "g"],
        extras={
            "opened": "COUNT(*)",
            "resolved": f"SUM(CASE WHEN status = {rules.RESOLVED_SQL} THEN 1 ELSE 0 END)",
        },
    )
    # Names after aggregating: a few rows instead of every link.
    named = (
        "SELECT t.*, COALESCE(tg.name, tp.name) AS label FROM ("  # noqa: S608
        f"{sql}) t LEFT JOIN {q(Tag._meta.db_table)} tg ON t.k = 1 AND tg.id = t.g "
        f"LEFT JOIN {q(Topic._meta.db_table)} tp ON t.k = 2 AND tp.id = t.g"
    )
    result: dict[int, list[LabelRow]] = {1: [], 2: []}
    for row in fetch(named, params):
        result[row["k"]].append(
            LabelRow(
                id=row["g"],
                name=row["label"],
                opened=int(row["opened"]),
                resolved=int(row["resolved"] or 0),
                first_response_median=Duration(as_float(row["p50"])),
            )
        )
    for rows in result.values():
        rows.sort(key=lambda r: (-r.opened, r.name.lower()))
    return result[1], result[2]


def _opened_figures(channel_ids: Sequence[int], period: Period) -> tuple[list, dict, list]:
    """SQLite (no GROUPING SETS): the same rows as ``_opened_figures_pg`` in two statements."""
    days, total = split_total(
        percentile_rows(
            _opened(channel_ids, period).values(
                g=TruncDate("opened_at", tzinfo=period.tz), d=_first_response_seconds()
            ),
            groups=["g"],
            extras={"opened": "COUNT(*)", "n_d": "COUNT(d)"},
            with_total=True,
        )
    )
    responders = [
        {**row, "r": row["g"]}
        for row in _first_responders(channel_ids, period)
        if row["g"] is not None
    ]
    return days, total, responders


def _opened_figures_pg(channel_ids: Sequence[int], period: Period) -> tuple[list, dict, list]:
    """PostgreSQL: (per-day rows, the total row, per-first-responder rows) of the
    conversations opened in the period from one scan, with ``GROUPING SETS``: count, answered
    count and first-response percentiles per opening day, per first responder and overall."""
    inner = _opened(channel_ids, period).values(
        g=TruncDate("opened_at", tzinfo=period.tz),
        r=F("first_responder_id"),
        d=_first_response_seconds(),
    )
    inner_sql, params = inner.order_by().query.sql_with_params()
    array = ", ".join(str(p / 100) for p in PERCENTILES)
    sql = (
        # GROUPING(g, r): 1 for a day's row, 2 for a responder's, 3 for the total.
        f"SELECT g, r, GROUPING(g, r) AS gs, "  # noqa: S608
        f"percentile_cont(ARRAY[{array}]) WITHIN GROUP (ORDER BY d) AS pcts, "
        f"COUNT(*) AS opened, COUNT(d) AS n_d FROM ({inner_sql}) o "
        "GROUP BY GROUPING SETS ((g), (r), ())"
    )
    rows = fetch(named_sql(sql, "r"), params)
    days = [r for r in rows if r["gs"] == 1]
    total = next((r for r in rows if r["gs"] == 3), {})
    # A system-sent first message, or none, has no agent to credit.
    responders = [r for r in rows if r["gs"] == 2 and r["r"] is not None]
    return days, total, responders


SESSION_SETTINGS = (
    "SET LOCAL work_mem = '64MB'; SET LOCAL jit = off; SET LOCAL parallel_tuple_cost = 0.0001"
)
ROLLUP_SETTINGS = (
    "SET LOCAL work_mem = '64MB'; SET LOCAL jit = off; "
    "SET LOCAL max_parallel_workers_per_gather = 0"
)


def build_report(*, channel_ids: Iterable[int], period: Period, now: datetime) -> Report:
    """Every figure of the reports page for these channels and days, in a fixed number of
    aggregate queries (pinned by tests). The caller has already checked access: pass only
    channels the user holds ``Cap.REPORTS`` on. Reads from the replica when one is configured
    and fresh enough, else from the primary (config/db_routing.py): the page, its CSV exports
    and the ``report`` command all come through here."""
    with reading_reports() as alias, transaction.atomic(using=alias):
        # For this transaction only (PostgreSQL; SQLite has no such settings). The percentile
        # sorts of ~200,000 rows fit in memory instead of spilling to disk; JIT compilation
        # (which the row estimates trigger) cost more than it saved in every measured run; and
        # a near-zero transfer cost lets the per-day groupings scan in parallel: the planner
        # cannot know that a date of a timestamp has ~30 values, not ~1,000,000, so by default
        # it refuses to ship that many rows from the workers.
        # The roll-up's statements aggregate ~100,000 narrow rows into a few thousand: shipped
        # from parallel workers they took 1.5-2.5x as long as one process on the loaded 2-core
        # bench VM (10M messages in range), so that path runs them serially.
        settings = ROLLUP_SETTINGS if _whole_hours(period) else SESSION_SETTINGS
        db_features.dialect(connection).tune_transaction(connection, settings)
        return _build(list(channel_ids), period, now)


def _direct_parts(ids: list[int], period: Period) -> Parts:
    """The conversation figures computed from the conversations themselves (periods whose ends
    are not whole UTC hours, e.g. Asia/Kolkata; and the reference the roll-up is tested
    against): 7 statements on PostgreSQL, 8 on SQLite, all exact."""
    tz = period.tz
    start, end = period.start, period.end

    # Conversations opened in the period: counts and first response, per day, per first
    # responder and overall.
    # GROUPING SETS read every grouping in one scan; without them, two statements.
    figures = (
        _opened_figures_pg if db_features.dialect(connection).grouping_sets else _opened_figures
    )
    opened_days, opened_total, responders = figures(ids, period)

    # Conversations resolved in the period (their current resolution): counts per day,
    # resolution and resolving agent (a few hundred rows), and the resolution times overall.
    resolved = Conversation.objects.filter(
        channel_id__in=ids, resolved_at__gte=start, resolved_at__lt=end
    )
    resolved_groups = with_names(
        resolved.values("resolution", "resolved_by_id", g=TruncDate("resolved_at", tzinfo=tz))
        .annotate(n=Count("id"))
        .order_by(),
        "resolved_by_id",
    )
    resolution_total = percentile_rows(
        resolved.values(d=Seconds(F("resolved_at"), F("opened_at"))),
        extras={"n_d": "COUNT(d)"},
    )[0]

    reopened = Event.objects.filter(
        conversation__channel_id__in=ids,
        kind=Event.Kind.STATUS_CHANGED,
        data__reopened=True,
        created_at__gte=start,
        created_at__lt=end,
    ).count()

    names = {}
    per_day_resolved: dict = {}
    by_agents = automatically = 0
    resolvers: dict[int, int] = {}
    for row in resolved_groups:
        day = as_date(row["g"])
        per_day_resolved[day] = per_day_resolved.get(day, 0) + row["n"]
        if row["resolution"] == Conversation.Resolution.AGENT:
            by_agents += row["n"]
            if row["resolved_by_id"] is not None:
                resolvers[row["resolved_by_id"]] = (
                    resolvers.get(row["resolved_by_id"], 0) + row["n"]
                )
                names[row["resolved_by_id"]] = (row["fname"], row["lname"], row["uname"])
        elif row["resolution"] in AUTO_RESOLUTIONS:
            automatically += row["n"]
    for row in responders:
        names[row["r"]] = (row["fname"], row["lname"], row["uname"])
    tags, topics = _label_rows(ids, period)
    return Parts(
        opened={
            as_date(row["g"]): (int(row["opened"]), as_float(row["p50"])) for row in opened_days
        },
        resolved=per_day_resolved,
        opened_total=int(opened_total.get("opened") or 0),
        first_response=spread(opened_total),
        responders={row["r"]: (int(row["n_d"]), as_float(row["p50"])) for row in responders},
        resolution=spread(resolution_total),
        by_agents=by_agents,
        automatically=automatically,
        resolvers=resolvers,
        reopened=reopened,
        tags=tags,
        topics=topics,
        names=names,
    )


def _build(ids: list[int], period: Period, now: datetime) -> Report:
    # The conversation figures: from the roll-up when the period's days are whole UTC hours
    # (every zone with a whole-hour offset), otherwise from the conversations.
    if _whole_hours(period):
        parts = conversation_figures.parts(ids, period)
    else:
        parts = _direct_parts(ids, period)

    # Messages per day and author (a few hundred rows at most); the per-day and the per-agent
    # figures are both sums over these rows.
    message_groups = _message_groups_sql(ids, period)
    queues = (
        Conversation.objects.filter(channel_id__in=ids, status__in=Conversation.OPEN)
        .values("status")
        .annotate(n=Count("id"), oldest=Min("last_activity_at"))
        .order_by()
    )

    # --- shape (aggregated rows only) ---
    days = {d: {"opened": 0, "resolved": 0, "in": 0, "out": 0, "frt": None} for d in period.days()}
    for day, (opened, median) in parts.opened.items():
        slot = days.get(day)
        if slot is not None:
            slot["opened"] = opened
            slot["frt"] = median
    for day, resolved in parts.resolved.items():
        slot = days.get(day)
        if slot is not None:
            slot["resolved"] += resolved

    agents: dict[int, dict] = {}

    def agent(user_id: int, first, last, username) -> dict:
        return agents.setdefault(
            user_id,
            {
                "user_id": user_id,
                "name": person_name(first, last, username),
                "replies": 0,
                "outside_window": 0,
            },
        )

    n_in = n_out = n_outside = 0
    messages_sql, messages_params = message_groups
    for row in fetch(named_sql(messages_sql, "author_id"), messages_params):
        n_in += row["n_in"]
        n_out += row["n_out"]
        n_outside += row["n_outside"]
        slot = days.get(as_date(row["day"]))
        if slot is not None:
            slot["in"] += row["n_in"]
            slot["out"] += row["n_out"]
        if row["author_id"] and row["n_out"]:  # 0 or None: no agent (tallies say 0)
            a = agent(row["author_id"], row["fname"], row["lname"], row["uname"])
            a["replies"] += row["n_out"]
            a["outside_window"] += row["n_outside"]
    daily = [
        Day(
            day=d,
            opened=v["opened"],
            resolved=v["resolved"],
            messages_in=v["in"],
            messages_out=v["out"],
            first_response_median=Duration(v["frt"]),
        )
        for d, v in days.items()
    ]

    summary = Summary(
        opened=parts.opened_total,
        resolved=parts.resolution.count,
        resolved_by_agents=parts.by_agents,
        resolved_automatically=parts.automatically,
        reopened=parts.reopened,
        messages_in=n_in,
        messages_out=n_out,
        outside_window=n_outside,
        first_response=parts.first_response,
        resolution=parts.resolution,
    )

    for user_id, n in parts.resolvers.items():
        a = agent(user_id, *parts.names.get(user_id, (None, None, None)))
        a["resolved"] = n
    for user_id, (n, median) in parts.responders.items():
        a = agent(user_id, *parts.names.get(user_id, (None, None, None)))
        a["first_responses"] = n
        a["first_response_median"] = Duration(median)
    agent_rows = sorted(
        (AgentRow(**a) for a in agents.values()), key=lambda r: (-r.replies, r.name.lower())
    )

    by_status = {row["status"]: row for row in queues}
    queue_rows = []
    for status in Conversation.OPEN:
        row = by_status.get(status, {"n": 0, "oldest": None})
        age = (now - row["oldest"]).total_seconds() if row["oldest"] else None
        queue_rows.append(
            Queue(
                status=str(status),
                label=str(Conversation.Status(status).label),
                size=row["n"],
                oldest_age=Duration(age),
            )
        )

    return Report(
        period=period,
        now=now,
        summary=summary,
        queues=queue_rows,
        daily=daily,
        agents=agent_rows,
        tags=parts.tags,
        topics=parts.topics,
    )
