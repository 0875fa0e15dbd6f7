"""The one place that asks which database engine runs (issue 14).

Production and CI run PostgreSQL; SQLite is the embedded development default. Code that takes a
faster PostgreSQL-only route (one-statement inbound, SKIP LOCKED batches, array parameters,
trigram search) asks ``is_postgres()`` once per concern; dialect differences in hand-written SQL
are spelled here (``greatest``) instead of being branched on where the SQL is written. Where
Django already exposes a feature flag (``connection.features.has_select_for_update``) that is
used instead of the engine's name.
"""

from __future__ import annotations

from django.db import connection as default_connection


def is_postgres(connection=None) -> bool:
    """True when ``connection`` (default: the default alias's) is PostgreSQL."""
    return (connection or default_connection).vendor == "postgresql"


def greatest(connection=None) -> str:
    """The SQL function that returns the largest of its arguments (SQLite's is multi-arg MAX)."""
    return "GREATEST" if is_postgres(connection) else "MAX"
