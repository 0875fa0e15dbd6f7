"""Reports read from a streaming replica when one is configured and fresh enough.

``DATABASE_REPLICA_URL`` adds the database alias ``replica`` (config/settings.py). The reports
(page, CSV exports, the ``report`` command: all of them go through ``reports.build
.build_report``) run inside ``reading_reports()``, which picks the alias once per report:

- ``replica`` when it is configured, reachable and its replay lags the primary by at most
  ``DATABASE_REPLICA_MAX_LAG_S`` seconds (default 30);
- ``default`` (the primary) otherwise: no replica, a replica that refuses connections, one that
  is not in recovery, or one that lags too far behind.

The lag is read on the replica: 0 when everything received has been replayed (an idle primary
sends nothing, so "now() minus the last replayed transaction" alone would grow without any lag),
otherwise ``now() - pg_last_xact_replay_timestamp()``. The verdict is cached for
``DATABASE_REPLICA_LAG_CACHE_S`` seconds (default 5) per process, so a report costs no extra
round trip and a dead replica costs one connection timeout per cache period, not per request.

While ``reading_reports()`` is active, ORM reads go to the chosen alias through ``ReportsRouter``
(listed in DATABASE_ROUTERS) and raw SQL uses ``read_connection``, a proxy to that alias's
connection. Writes are never routed.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

logger = logging.getLogger(__name__)

REPLICA = "replica"

LAG_SQL = """
SELECT CASE
    WHEN NOT pg_is_in_recovery() THEN NULL
    WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0.0
    ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())
END
"""

_reading: contextvars.ContextVar[str | None] = contextvars.ContextVar("reading", default=None)


def lag_from_cursor(cursor) -> float:
    """The replay lag in seconds of the server behind ``cursor``; ``inf`` when it is not a
    replica, or lags without having replayed any transaction since it started."""
    cursor.execute(LAG_SQL)
    (lag,) = cursor.fetchone()
    return math.inf if lag is None else max(0.0, float(lag))


def replica_lag_seconds(alias: str = REPLICA) -> float:
    """The lag of the database ``alias``; raises DatabaseError when it cannot be reached."""
    with connections[alias].cursor() as cursor:
        return lag_from_cursor(cursor)


class ReplicaChooser:
    """Which alias the reports read from, decided at most once per ``cache_s`` seconds."""

    def __init__(
        self,
        *,
        alias: str = REPLICA,
        max_lag_s: float = 30.0,
        cache_s: float = 5.0,
        lag: Callable[[str], float] = replica_lag_seconds,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.alias = alias
        self.max_lag_s = max_lag_s
        self.cache_s = cache_s
        self._lag = lag
        self._clock = clock
        self._lock = threading.Lock()
        self._until = -math.inf
        self._choice = DEFAULT_DB_ALIAS

    def choose(self) -> str:
        with self._lock:
            now = self._clock()
            if now < self._until:
                return self._choice
            self._choice = self._decide()
            self._until = now + self.cache_s
            return self._choice

    def _decide(self) -> str:
        try:
            lag = self._lag(self.alias)
        except DatabaseError as exc:
            logger.warning("reports: replica unreachable, reading the primary (%s)", exc)
            if self.alias in connections.settings:  # drop a half-open connection
                with contextlib.suppress(DatabaseError):
                    connections[self.alias].close()
            return DEFAULT_DB_ALIAS
        if lag > self.max_lag_s:
            logger.warning(
                "reports: replica lags %.1f s (more than %g s), reading the primary",
                lag,
                self.max_lag_s,
            )
            return DEFAULT_DB_ALIAS
        return self.alias


_chooser: ReplicaChooser | None = None
_chooser_lock = threading.Lock()


def chooser() -> ReplicaChooser | None:
    """The process's chooser, or None when no replica is configured."""
    global _chooser
    if REPLICA not in settings.DATABASES:
        return None
    with _chooser_lock:
        if _chooser is None:
            _chooser = ReplicaChooser(
                max_lag_s=settings.DATABASE_REPLICA_MAX_LAG_S,
                cache_s=settings.DATABASE_REPLICA_LAG_CACHE_S,
            )
        return _chooser


def reports_db() -> str:
    """The alias the next report reads from: ``replica`` when fresh enough, else ``default``."""
    current = chooser()
    return DEFAULT_DB_ALIAS if current is None else current.choose()


def current_read_alias() -> str:
    """The alias chosen by the enclosing ``reading_reports()``, else ``default``."""
    return _reading.get() or DEFAULT_DB_ALIAS


@contextlib.contextmanager
def reading_reports(alias: str | None = None) -> Iterator[str]:
    """Route reads to ``alias`` inside the block; yields it. Without ``alias``, a block nested
    in another keeps the enclosing block's choice (one report, one database: the page's
    sections agree), and an outermost block asks ``reports_db()``."""
    token = _reading.set(alias or _reading.get() or reports_db())
    try:
        yield _reading.get()
    finally:
        _reading.reset(token)


class ReportsRouter:
    """Reads inside ``reading_reports()`` go to the chosen alias; everything else is Django's
    default (no opinion). Migrations run on the primary only: the replica gets them by WAL."""

    def db_for_read(self, model, **hints):
        return _reading.get()

    def db_for_write(self, model, **hints):
        return None

    def allow_relation(self, obj1, obj2, **hints):
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return False if db == REPLICA else None


class _ReadConnection:
    """``django.db.connection`` for the alias of the enclosing ``reading_reports()``."""

    def __getattr__(self, name):
        return getattr(connections[current_read_alias()], name)


read_connection = _ReadConnection()
