"""The one home of the database dialects (issue 14): what differs between PostgreSQL and SQLite.

Production and CI run PostgreSQL; SQLite is the embedded development default. As Django does
with ``connection.ops`` and ``connection.features``, every difference the app code meets is a
method or an attribute of a per-engine object, chosen once by a dict lookup on the connection's
vendor (``dialect()``): SQL fragments (``greatest``, the skip-locked claim, id lists, JSON
parameters, percentiles), expressions (the id array, full-text search), locks (advisory locks,
which SQLite does not need: it serialises writers) and planner tuning. The app code calls them
without asking which engine runs.

A few features exist only on PostgreSQL and change a whole algorithm, not a fragment; those keep
one guard each at their entry, on a named attribute here (``partitioned``,
``one_statement_batches``, ``grouping_sets``). ``tests/test_architecture.py`` counts every place
in the app code that branches on the database and fails above four.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

from django.db import connection as default_connection
from django.db import connections
from django.db.models import BooleanField, CharField, F, Func, Lookup, Q, QuerySet, Value
from django.db.models.expressions import Expression, RawSQL
from django.db.models.lookups import In


class AnyOf(Lookup):
    """``column = ANY(%s::type[])``: the ids travel as one array parameter.

    A Supervisor's inbox filters on ~200 channel ids, three times in the count query alone; as
    ``IN (%s, %s, ...)`` that made every statement a few kilobytes that psycopg re-parsed on each
    request (its statement cache skips long queries) and Django compiled 600 parameters. The
    plan is the same: PostgreSQL turns ``IN (list)`` into ``= ANY(array)`` itself.
    """

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        db_type = self.lhs.output_field.cast_db_type(connection)
        return f"{lhs} = ANY(%s::{db_type}[])", (*lhs_params, list(self.rhs))


class BodyMatches(Func):
    """PostgreSQL full-text match of message text, shaped to use the ``msg_body_fts`` GIN index.

    Renders ``to_tsvector('simple', body) @@ plainto_tsquery('simple', %s)``: the 'simple'
    configuration (no stemming) suits a mix of languages and matches whole words.
    """

    template = "to_tsvector('simple'::regconfig, %(expressions)s)"
    arg_joiner = ") @@ plainto_tsquery('simple'::regconfig, "
    output_field = BooleanField()


class BodyMayMatch(Func):
    """A cheap necessary condition for ``BodyMatches``: the lowercased body contains every
    lexeme of the query as a substring.

    The 'simple' configuration makes each lexeme the lowercased token, and a token is a piece
    of the body, so a body that fails this cannot match; the lexemes come from PostgreSQL's own
    parser (one InitPlan per statement). Checked first, it spares ``to_tsvector`` on most of the
    rows the capped scan reads, which was most of the search's cost.
    """

    output_field = BooleanField()

    def as_sql(self, compiler, connection, **extra_context):
        body, query = self.get_source_expressions()
        body_sql, body_params = compiler.compile(body)
        query_sql, query_params = compiler.compile(query)
        # Lexemes are matched literally: LIKE's own wildcards and escape are escaped in them.
        pattern = (
            r"'%%' || replace(replace(replace(w.lexeme, '\', '\\'), '%%', '\%%'), '_', '\_')"
            " || '%%'"
        )
        # COALESCE hides the clause from LIKE's selectivity estimate (a guess of a row or two
        # for a parameter pattern, which turned the capped scan into a bitmap scan of every
        # match): as an opaque boolean it is taken as 0.5 and the plan stays as before.
        # Compiled expressions only; the query text stays a bound parameter.
        lexemes = f"tsvector_to_array(to_tsvector('simple'::regconfig, {query_sql}))"
        patterns = f"ARRAY(SELECT {pattern} FROM unnest({lexemes}) AS w(lexeme))"  # noqa: S608
        sql = f"COALESCE(lower({body_sql}) LIKE ALL ({patterns}), false)"
        return sql, (*body_params, *query_params)


class Dialect:
    """SQLite, the embedded development default, and the base of every dialect."""

    name = "sqlite"
    # The SQL function that returns the largest of its arguments (SQLite's is multi-arg MAX).
    greatest = "MAX"
    # Messages and events are monthly partitions (migration 0017 on PostgreSQL only).
    partitioned = False
    # A sweep claims, changes and records a batch in one statement (data-modifying CTEs, row
    # locks with SKIP LOCKED, interval arithmetic); otherwise in a few, under the write lock.
    one_statement_batches = False
    # GROUPING SETS and ordered-set aggregates (percentile_cont): several groupings, one scan.
    grouping_sets = False
    # Appended to a sweep's claiming SELECT. SQLite needs no row locks: its transactions start
    # IMMEDIATE (settings), so a sweep holds the write lock from its first statement.
    claim_lock = ""

    # --- parameters and fragments ---

    def id_rows(self, param: str) -> str:
        """A FROM item with one row per id of a list parameter, as column ``id``."""
        return f"(SELECT value AS id FROM json_each({param}))"  # noqa: S608 (a placeholder)

    def id_list(self, ids: Iterable[int]):
        """The value to bind for ``id_rows``' parameter."""
        return json.dumps(list(ids))

    def json_param(self, param: str) -> str:
        """A JSON document bound as text, as the column stores it."""
        return param

    # --- expressions ---

    def in_ids(self, field: str | Expression, ids: list[int]) -> Q | Lookup:
        """``field IN ids`` (``field`` a name or an expression)."""
        return Q(**{f"{field}__in": ids}) if isinstance(field, str) else In(field, list(ids))

    def text_search(self, field: str, text: str) -> list:
        """The filters that find messages whose ``field`` contains ``text``: a plain scan here,
        capped by the caller like the full-text one."""
        return [Q(**{f"{field}__icontains": text})]

    def newest_months_first(
        self, qs: QuerySet, *, field: str, now: datetime, months: int
    ) -> list[QuerySet]:
        """``qs`` cut into slices of ``field`` to read newest first, so that a capped read
        stops in the latest months. SQLite keeps one table: ``[qs]``."""
        return [qs]

    def rows_estimate(self, tables: Sequence[str]) -> tuple[str, tuple]:
        """An SQL expression for the planner's row count of ``tables`` (those that exist), as
        (sql, params). SQLite keeps no such statistics: 0."""
        return "0", ()

    def per_group_sql(
        self,
        qs: QuerySet,
        *,
        field: str,
        values: Sequence,
        columns: Sequence[str],
        order: Sequence,
        limit: int,
    ) -> tuple[str, tuple]:
        """A SELECT of ``columns`` of ``qs``'s first ``limit`` rows in ``order`` for each of the
        ``values`` of ``field`` (PostgreSQL: a LATERAL join). SQLite has no LATERAL: the first
        ``limit`` x len(values) rows of ``qs`` in ``order``."""
        rows = qs.order_by(*order).values(*columns)[: limit * len(values)]
        return rows.query.sql_with_params()

    def newest_per_group(
        self, qs: QuerySet, *, field: str, values: Sequence, key: str, order: Sequence, limit: int
    ) -> QuerySet:
        """``qs``, for a page of its first ``limit`` rows in ``order`` over several ``values`` of
        ``field``, read per value where that pays (PostgreSQL). SQLite walks the merged range
        well: ``qs`` as it is."""
        return qs

    # --- locks and transaction settings ---

    @contextmanager
    def try_advisory_lock(self, connection, key: int):
        """Yield whether this session got the lock ``key`` (held until the block ends)."""
        yield True

    def advisory_xact_lock(self, connection, key: int) -> None:
        """Wait for the lock ``key``, held to the end of the transaction."""

    def tune_transaction(self, connection, statements: str) -> None:
        """Run PostgreSQL's ``SET LOCAL`` tuning for this transaction; SQLite has none."""

    # --- percentiles ---

    def percentile_sql(
        self,
        inner_sql: str,
        *,
        percentiles: Sequence[int],
        groups: Sequence[str],
        extras: Mapping[str, str],
        columns: Sequence[str] = (),
        with_total: bool = False,
    ) -> str:
        """Wrap a query yielding ``groups`` and a duration ``d`` into one row per group with
        ``p<N>`` per percentile (linear interpolation, as percentile_cont) plus the ``extras``
        aggregates; ``with_total`` adds a row over all groups with NULL group columns.

        SQLite has no ordered-set aggregates: window functions (ROW_NUMBER, COUNT, LEAD) over
        the durations compute the same interpolation, and without GROUPING SETS the total is
        the rows once more under a NULL group (which needs the inner ``columns``)."""
        extra_sql = "".join(f", {expr} AS {name}" for name, expr in extras.items())
        select_groups = "".join(f"{g}, " for g in groups)
        if groups and with_total:
            others = [c for c in columns if c not in groups]
            totals = ", ".join([*(f"NULL AS {g}" for g in groups), *others])
            inner_sql = (
                f"SELECT {', '.join([*groups, *others])} FROM ({inner_sql}) a "  # noqa: S608
                f"UNION ALL SELECT {totals} FROM ({inner_sql}) b"
            )
        group_by = f" GROUP BY {', '.join(groups)}" if groups else ""
        partition = f"PARTITION BY {', '.join(groups)}" if groups else ""
        # percentile_cont(p) over n values: position k = p*(n-1) (0-based), value at floor(k)
        # plus (k - floor(k)) times the gap to the next value. k is computed in integers (p in
        # percent), so no floating-point floor can land on the wrong row. NULL durations sort
        # last and are not counted, as percentile_cont ignores NULLs. "%%" is the modulo
        # operator once the backend has substituted the parameters (the statement always has
        # some).
        pcts = ", ".join(
            f"SUM(CASE WHEN rn = 1 + ({p} * (n - 1)) / 100 THEN "
            f"d + (COALESCE(nx, d) - d) * (({p} * (n - 1)) %% 100) / 100.0 END) AS p{p}"
            for p in percentiles
        )
        return (
            f"SELECT {select_groups}{pcts}{extra_sql} FROM ("  # noqa: S608
            f"SELECT r.*, ROW_NUMBER() OVER w AS rn, COUNT(d) OVER ({partition}) AS n, "
            f"LEAD(d) OVER w AS nx FROM ({inner_sql}) r "
            f"WINDOW w AS ({partition} ORDER BY d IS NULL, d)"
            f") ranked{group_by}"
        )

    def percentile_params(self, params: Sequence, *, groups: Sequence[str], with_total: bool):
        """The parameters of ``percentile_sql`` for an inner query with ``params``: its total
        reads the inner query twice."""
        return (*params, *params) if groups and with_total else tuple(params)


class PostgreSQL(Dialect):
    """PostgreSQL: production and CI."""

    name = "postgresql"
    greatest = "GREATEST"
    partitioned = True
    one_statement_batches = True
    grouping_sets = True
    # NO KEY UPDATE is the lock an UPDATE of non-key columns takes anyway; unlike FOR UPDATE it
    # does not block the KEY SHARE lock that inserting a message or event for the conversation
    # takes for its foreign key. Rows an agent holds are skipped and left for the next batch.
    claim_lock = "FOR NO KEY UPDATE SKIP LOCKED"

    def id_rows(self, param: str) -> str:
        return f"unnest({param}::bigint[]) AS ids (id)"

    def id_list(self, ids: Iterable[int]):
        return list(ids)

    def json_param(self, param: str) -> str:
        return f"{param}::jsonb"

    def in_ids(self, field: str | Expression, ids: list[int]) -> Q | Lookup:
        """``field = ANY(array)``: one array parameter (see ``AnyOf``)."""
        if not ids:
            return super().in_ids(field, ids)
        return AnyOf(F(field) if isinstance(field, str) else field, ids)

    def text_search(self, field: str, text: str) -> list:
        """Full text on the ``msg_body_fts`` index, the cheap substring test first."""
        value = Value(text, output_field=CharField())
        return [BodyMayMatch(F(field), value), BodyMatches(F(field), value)]

    def newest_months_first(
        self, qs: QuerySet, *, field: str, now: datetime, months: int
    ) -> list[QuerySet]:
        """``qs`` as one slice per UTC month of ``field`` (the monthly partitions), newest
        first: this month (and any later), the ``months - 1`` before it one by one, then
        everything older. The slices cover every row once.

        Read as a UNION ALL of capped slices under the same cap, each slice is planned alone
        for its own few rows: a word in one message in twelve is found by a short scan of the
        newest month and the read stops there, a rare word by each month's GIN index. As one
        capped scan of the whole table PostgreSQL chose bitmap scans that AND the full-text
        index with the channel index over whole partitions (2.8M entries each), 400 ms and more
        at 50M messages (bench/RESULTS.md, "Inbox at 10M").
        """
        index = now.year * 12 + now.month - 1
        starts = [
            datetime(i // 12, i % 12 + 1, 1, tzinfo=UTC) for i in range(index, index - months, -1)
        ]
        slices = [qs.filter(**{f"{field}__gte": starts[0]})]
        for later, earlier in itertools.pairwise(starts):
            slices.append(qs.filter(**{f"{field}__gte": earlier, f"{field}__lt": later}))
        slices.append(qs.filter(**{f"{field}__lt": starts[-1]}))
        return slices

    def rows_estimate(self, tables: Sequence[str]) -> tuple[str, tuple]:
        """``pg_class.reltuples`` summed (kept by ANALYZE and autovacuum), missing tables 0."""
        return (
            "(SELECT COALESCE(SUM(GREATEST(c.reltuples, 0)), 0) FROM pg_class c WHERE c.oid ="
            " ANY(ARRAY(SELECT to_regclass(t) FROM unnest(%s::text[]) AS names (t))))",
            (list(tables),),
        )

    def per_group_sql(
        self,
        qs: QuerySet,
        *,
        field: str,
        values: Sequence,
        columns: Sequence[str],
        order: Sequence,
        limit: int,
        joined: tuple[str, tuple] = ("", ()),
    ) -> tuple[str, tuple]:
        """``SELECT per_group.* FROM unnest(values) CROSS JOIN LATERAL (qs's first ``limit``
        rows in ``order`` where ``field`` is the value)``: one index range per value.
        ``joined``: FROM items (with their params) placed before the LATERAL, for ``qs`` to
        name; evaluated once, not per value."""
        connection = connections[qs.db]
        cast = qs.model._meta.get_field(field).cast_db_type(connection)
        rows = (
            qs.filter(**{field: RawSQL("per_group_value.value", ())})
            .order_by(*order)
            .values(*columns)[:limit]
        )
        sql, params = rows.query.sql_with_params()
        joined_sql, joined_params = joined
        return (
            f"SELECT per_group.* FROM unnest(%s::{cast}[]) AS per_group_value (value)"  # noqa: S608
            f"{joined_sql} CROSS JOIN LATERAL ({sql}) AS per_group",
            (list(values), *joined_params, *params),
        )

    def newest_per_group(
        self, qs: QuerySet, *, field: str, values: Sequence, key: str, order: Sequence, limit: int
    ) -> QuerySet:
        """The first ``limit`` rows of ``qs`` in ``order`` over the ``values`` of ``field``, read
        per value (``per_group_sql``: one index range each), as ``qs``'s rows by id: one
        statement.

        One walk of the whole order (``conv_inbox_all``) skips every newer row of a group the
        user does not see, and those can be millions (bench/RESULTS.md, "Inbox at 10M"). Read
        per group, a group's range is walked only as far as the page can reach: first each
        group's newest ``ceil(2 x limit / groups)`` rows (the heads); the ``limit``-th newest head
        is no newer than the page's last row, so each group is then read down to that head's
        key only (``limit`` rows at most). Both are index ranges; with a filter that passes
        few rows (a tag) each row walked costs a probe, and this walks ~ limit / share rows
        in all instead of groups x limit / share. In ascending order (longest waiting first,
        the unanswered NULLs last) the groups are read to ``limit`` rows each.
        """
        joined = ("", ())
        if order[0].startswith("-"):
            heads_sql, heads_params = self.per_group_sql(
                qs,
                field=field,
                values=values,
                columns=(key, "id"),
                order=order,
                # Twice a fair share: a group with fewer rows leaves the others' heads enough.
                limit=-(-2 * limit // len(values)),
            )
            cast = qs.model._meta.get_field(key).cast_db_type(connections[qs.db])
            # The bound is a FROM item read once (OFFSET 0 keeps it one): as a subquery in each
            # group's range PostgreSQL counted its cost once per group, and the estimate (1.5M
            # at 201 groups) switched on JIT compilation, 400 ms. No limit-th head: no bound.
            joined = (
                f' CROSS JOIN (SELECT COALESCE((SELECT heads."{key}" FROM ({heads_sql})'  # noqa: S608
                f' AS heads ORDER BY heads."{key}" DESC, heads."id" DESC'
                f" OFFSET {int(limit) - 1} LIMIT 1), '-infinity'::{cast}) AS bound OFFSET 0)"
                " AS page_bound",
                heads_params,
            )
            qs = qs.filter(**{f"{key}__gte": RawSQL("page_bound.bound", ())})
        sql, params = self.per_group_sql(
            qs,
            field=field,
            values=values,
            columns=(key, "id"),
            order=order,
            limit=limit,
            joined=joined,
        )
        ordering = ", ".join(
            f'per_group."{name.lstrip("-")}" {"DESC" if name.startswith("-") else "ASC"}'
            for name in order
        )
        ids = (
            f"SELECT per_group.id FROM ({sql}) AS per_group ORDER BY {ordering} LIMIT {int(limit)}"  # noqa: S608
        )
        return qs.model._default_manager.filter(
            pk__in=RawSQL(ids, params)  # noqa: S611 (compiled SQL, bound values)
        )

    @contextmanager
    def try_advisory_lock(self, connection, key: int):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
            acquired = cursor.fetchone()[0]
        try:
            yield acquired
        finally:
            if acquired:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [key])

    def advisory_xact_lock(self, connection, key: int) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])

    def tune_transaction(self, connection, statements: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute(statements)

    def percentile_sql(
        self,
        inner_sql: str,
        *,
        percentiles: Sequence[int],
        groups: Sequence[str],
        extras: Mapping[str, str],
        columns: Sequence[str] = (),
        with_total: bool = False,
    ) -> str:
        """``percentile_cont`` with an array argument (one sort serves every percentile, read
        back as ``pcts``), and GROUPING SETS give the total in the same pass."""
        extra_sql = "".join(f", {expr} AS {name}" for name, expr in extras.items())
        select_groups = "".join(f"{g}, " for g in groups)
        array = ", ".join(str(p / 100) for p in percentiles)
        pcts = f"percentile_cont(ARRAY[{array}]) WITHIN GROUP (ORDER BY d) AS pcts"
        if groups and with_total:
            group_by = f" GROUP BY GROUPING SETS (({', '.join(groups)}), ())"
        else:
            group_by = f" GROUP BY {', '.join(groups)}" if groups else ""
        return f"SELECT {select_groups}{pcts}{extra_sql} FROM ({inner_sql}) r{group_by}"  # noqa: S608

    def percentile_params(self, params: Sequence, *, groups: Sequence[str], with_total: bool):
        return tuple(params)


# The one lookup on the engine's name.
DIALECTS: dict[str, Dialect] = {d.name: d for d in (Dialect(), PostgreSQL())}


def dialect(connection=None, *, vendor: str | None = None) -> Dialect:
    """The dialect of ``connection`` (default: the default alias's), or of the engine named
    ``vendor`` (a test renders one dialect's SQL on the other's database)."""
    return DIALECTS[vendor or (connection or default_connection).vendor]


def is_postgres(connection=None) -> bool:
    """True when ``connection`` (default: the default alias's) is PostgreSQL. Prefer a
    dialect's method or named feature: each call of this is a branch on the engine."""
    return dialect(connection).name == "postgresql"


def greatest(connection=None) -> str:
    """The SQL function that returns the largest of its arguments."""
    return dialect(connection).greatest
