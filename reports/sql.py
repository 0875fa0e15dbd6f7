"""SQL building blocks of the reports: durations in seconds, percentiles on both backends,
and the few helpers that turn aggregated rows into figures.

Percentiles are ``percentile_cont`` on PostgreSQL. SQLite has no ordered-set aggregates, so there
the same linear interpolation is computed with window functions (ROW_NUMBER, COUNT, LEAD) over
the durations, in SQL. Both statements are the dialects' (``config.db_features``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from django.contrib.auth import get_user_model
from django.db.models import FloatField, Func, QuerySet

# The connection of the database the report reads (replica or primary), inside build_report.
from config import db_features
from config.db_routing import read_connection as connection
from reports.figures import PERCENTILES, Duration, Spread


class Seconds(Func):
    """``end - start`` in seconds, as a float, on both backends."""

    arity = 2
    output_field = FloatField()

    def as_postgresql(self, compiler, connection, **extra_context):
        # date_part() yields a float8 directly; EXTRACT() yields numeric (PostgreSQL 14+),
        # whose arithmetic made the first-response figures twice as slow on a million rows.
        return self.as_sql(
            compiler,
            connection,
            template="date_part('epoch', %(expressions)s)",
            arg_joiner=" - ",
            **extra_context,
        )

    def as_sqlite(self, compiler, connection, **extra_context):
        # julianday() is a double: rounding to whole milliseconds removes its representation
        # noise so that, e.g., 90 seconds is exactly 90.0 as on PostgreSQL.
        end_sql, end_params = compiler.compile(self.source_expressions[0])
        start_sql, start_params = compiler.compile(self.source_expressions[1])
        sql = f"(ROUND((julianday({end_sql}) - julianday({start_sql})) * 86400000.0) / 1000.0)"
        return sql, (*end_params, *start_params)


def percentile_sql(
    inner_sql: str,
    *,
    groups: Sequence[str],
    extras: Mapping[str, str],
    columns: Sequence[str] = (),
    with_total: bool = False,
    vendor: str | None = None,
) -> str:
    """Wrap a query yielding ``groups`` and a duration ``d`` into one row per group with
    ``p50`` and ``p90`` (linear interpolation, as percentile_cont) plus the ``extras``
    aggregates, which may refer to any column of the inner query.

    ``with_total`` adds one more row, over all groups, whose group columns are NULL (the inner
    query's group values must never be NULL); on SQLite it needs the inner ``columns``. The
    statement is the dialect's (``config.db_features``); ``vendor`` names another engine's.
    """
    return db_features.dialect(connection, vendor=vendor).percentile_sql(
        inner_sql,
        percentiles=PERCENTILES,
        groups=groups,
        extras=extras,
        columns=columns,
        with_total=with_total,
    )


def fetch(sql: str, params) -> list[dict]:
    """Run one statement; rows as dicts, with PostgreSQL's percentile array split into
    ``p50``/``p90`` like the SQLite variant returns them."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [col[0] for col in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    for row in rows:
        if "pcts" in row:
            values = row.pop("pcts") or [None] * len(PERCENTILES)
            row.update({f"p{p}": v for p, v in zip(PERCENTILES, values, strict=True)})
    return rows


def percentile_rows(
    qs: QuerySet,
    *,
    groups: Sequence[str] = (),
    extras: Mapping[str, str] | None = None,
    with_total: bool = False,
) -> list[dict]:
    """Run ``percentile_sql`` over a ``values()`` queryset (one query); rows as dicts."""
    query = qs.order_by().query
    columns = [*query.values_select, *query.annotation_select]
    inner_sql, params = query.sql_with_params()
    params = db_features.dialect(connection).percentile_params(
        params, groups=groups, with_total=with_total
    )
    sql = percentile_sql(
        inner_sql, groups=groups, extras=extras or {}, columns=columns, with_total=with_total
    )
    return fetch(sql, params)


def named_sql(sql: str, id_column: str) -> str:
    """Join the agents' names to an already aggregated result (a few rows), rather than to
    every message before aggregating: on a million messages that join and the wider grouping
    key cost more than the scan itself."""
    user_table = connection.ops.quote_name(get_user_model()._meta.db_table)
    return (
        "SELECT t.*, u.first_name AS fname, u.last_name AS lname, u.username AS uname "  # noqa: S608
        f"FROM ({sql}) t LEFT JOIN {user_table} u ON u.id = t.{id_column}"
    )


def with_names(qs: QuerySet, id_column: str) -> list[dict]:
    """Run an aggregating ``values()`` queryset with ``named_sql``; rows as dicts."""
    sql, params = qs.query.sql_with_params()
    return fetch(named_sql(sql, id_column), params)


def split_total(rows: list[dict], key: str = "g") -> tuple[list[dict], dict]:
    """(the per-group rows, the total row) of a ``with_total`` result."""
    total = next((r for r in rows if r[key] is None), {})
    return [r for r in rows if r[key] is not None], total


def spread(row: Mapping | None, count_key: str = "n_d") -> Spread:
    if not row:
        return Spread()
    return Spread(
        count=int(row.get(count_key) or 0),
        median=Duration(as_float(row["p50"])),
        p90=Duration(as_float(row["p90"])),
    )


def as_float(value) -> float | None:
    return None if value is None else float(value)


def as_date(value) -> date:
    # Raw cursors on SQLite return TruncDate as text; PostgreSQL returns a date.
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def person_name(first: str | None, last: str | None, username: str | None) -> str:
    full = f"{first or ''} {last or ''}".strip()
    return full or username or "?"


# --- the queries ---------------------------------------------------------------------------
