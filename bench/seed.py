"""Rows the benchmark datasets share: the channels every workload seeds.

``insert_channels`` is the one hand-written INSERT into ``channels_app_channel`` in bench/; each
workload names only what makes its channels its own (names, phone_number_id values its webhook
payloads or lookups use, auto-resolve settings). It takes any DB-API cursor with ``%s``
parameters: Django's (the dataset builders) or psycopg's (bench/webhook_load.py seeds without
Django). A column added to ``Channel`` without a database default is added here, once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

# Every column the seeds write, with the value a workload gets unless it overrides it: an active
# WhatsApp channel, auto-assign on, auto-resolve off, no user or team access of its own
# (all_*_role 10 is Role.VIEWER), no token. A value may be a function of the channel's suffix g.
CHANNEL_DEFAULTS: dict[str, Any] = {
    "kind": "whatsapp",
    "is_active": True,
    "auto_assign": True,
    "auto_resolve_new_after": None,
    "auto_resolve_pending_after": None,
    "all_users_enabled": False,
    "all_users_role": 10,
    "all_teams_enabled": False,
    "all_teams_role": 10,
    "waba_id": "1",
    "display_phone_number": lambda g: f"+1 555 {g}",
    "verified_name": "Bench",
    "access_token": "",
    "read_receipts": "on_open",
}

_ROWS_PER_STATEMENT = 1000  # 18 parameters a row: well under PostgreSQL's 65,535


def insert_channels(
    cursor,
    count: int | Iterable[str],
    *,
    name_prefix: str,
    phone_prefix: str,
    now: datetime,
    **overrides: Any,
) -> list[int]:
    """Insert one channel per suffix g (1..count, or the suffixes given); return their ids.

    Channel g is named ``f"{name_prefix}{g}"`` with phone_number_id ``f"{phone_prefix}{g}"``,
    created and updated at ``now``; every other column is CHANNEL_DEFAULTS' unless overridden.
    An override (or a default) that is callable is called with g. The ids come back in the
    order of the suffixes.
    """
    suffixes = list(range(1, count + 1)) if isinstance(count, int) else list(count)
    unknown = set(overrides) - set(CHANNEL_DEFAULTS) - {"display_name", "phone_number_id"}
    if unknown:
        raise TypeError(f"insert_channels: unknown columns {sorted(unknown)}")
    values = {
        "display_name": lambda g: f"{name_prefix}{g}",
        "phone_number_id": lambda g: f"{phone_prefix}{g}",
        **CHANNEL_DEFAULTS,
        **overrides,
        "created_at": now,
        "updated_at": now,
    }
    columns = list(values)
    rows = [[value(g) if callable(value) else value for value in values.values()] for g in suffixes]
    placeholders = "(" + ", ".join(["%s"] * len(columns)) + ")"
    ids: list[int] = []
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        chunk = rows[start : start + _ROWS_PER_STATEMENT]
        cursor.execute(
            f"INSERT INTO channels_app_channel ({', '.join(columns)})"
            f" VALUES {', '.join([placeholders] * len(chunk))} RETURNING id",
            [value for row in chunk for value in row],
        )
        # A multi-row VALUES inserts (and returns) its rows in order: the ids are increasing.
        ids += sorted(row[0] for row in cursor.fetchall())
    return ids


def per_suffix(table: list[Any], unit: Any = 1) -> Callable[[int], Any]:
    """An override that cycles through ``table`` by channel number g: ``table[g % len(table)]``
    times ``unit`` (None stays None)."""
    return lambda g: None if table[g % len(table)] is None else table[g % len(table)] * unit
