"""The reports' replica routing (config/db_routing.py) and the database settings it relies on.

The lag source is a fake here (CI runs no replica); tests/deployment/test_replica.py runs the lag
query against a real streaming replica when the PostgreSQL server binaries are installed.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import OperationalError

from config import db_routing
from config.db_routing import REPLICA, ReplicaChooser, read_connection, reading_reports
from conversations.models import Conversation

ROOT = Path(__file__).resolve().parents[2]


class FakeLag:
    """A replica whose lag the test sets; counts how often it was asked."""

    def __init__(self, lag: float | Exception = 0.0):
        self.lag = lag
        self.calls = 0

    def __call__(self, alias: str) -> float:
        assert alias == REPLICA
        self.calls += 1
        if isinstance(self.lag, Exception):
            raise self.lag
        return self.lag


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(lag, **kwargs):
    clock = Clock()
    return ReplicaChooser(lag=lag, clock=clock, **{"max_lag_s": 30, "cache_s": 5, **kwargs}), clock


def test_fresh_replica_is_read():
    chooser, _ = make(FakeLag(2.5))
    assert chooser.choose() == "replica"


def test_replica_lagging_past_the_setting_falls_back_to_the_primary():
    chooser, _ = make(FakeLag(30.5))
    assert chooser.choose() == "default"
    chooser, _ = make(FakeLag(30.0))
    assert chooser.choose() == "replica"  # "more than" the setting, not "as much as"


def test_unreachable_replica_falls_back_to_the_primary():
    chooser, _ = make(FakeLag(OperationalError("connection refused")))
    assert chooser.choose() == "default"


def test_not_a_replica_counts_as_infinitely_behind():
    chooser, _ = make(FakeLag(float("inf")))
    assert chooser.choose() == "default"


def test_verdict_is_cached_for_the_cache_period_then_read_again():
    lag = FakeLag(1.0)
    chooser, clock = make(lag, cache_s=5)
    assert [chooser.choose() for _ in range(20)] == ["replica"] * 20
    assert lag.calls == 1
    lag.lag = 120.0
    clock.now += 4.9
    assert chooser.choose() == "replica"  # still within the cached verdict
    clock.now += 0.2
    assert chooser.choose() == "default"
    assert lag.calls == 2
    lag.lag = 0.0
    clock.now += 5.1
    assert chooser.choose() == "replica"  # caught up again: back to the replica


def test_a_dead_replica_is_asked_once_per_cache_period():
    lag = FakeLag(OperationalError("timeout"))
    chooser, clock = make(lag, cache_s=5)
    for _ in range(10):
        assert chooser.choose() == "default"
    assert lag.calls == 1
    clock.now += 6
    chooser.choose()
    assert lag.calls == 2


def test_without_a_replica_reports_read_the_primary(settings):
    assert REPLICA not in settings.DATABASES
    assert db_routing.reports_db() == "default"
    with reading_reports() as alias:
        assert alias == "default"
        assert Conversation.objects.all().db == "default"


def test_inside_reading_reports_orm_reads_and_raw_sql_use_the_chosen_alias():
    assert Conversation.objects.all().db == "default"
    with reading_reports("replica") as alias:
        assert alias == "replica"
        assert Conversation.objects.all().db == "replica"
        assert db_routing.current_read_alias() == "replica"
    assert Conversation.objects.all().db == "default"
    assert db_routing.current_read_alias() == "default"
    with reading_reports("default"):
        assert read_connection.alias == "default"


def test_router_never_routes_writes_or_migrations_to_the_replica():
    router = db_routing.ReportsRouter()
    with reading_reports("replica"):
        assert router.db_for_write(Conversation) is None
    assert router.allow_migrate("replica", "conversations") is False
    assert router.allow_migrate("default", "conversations") is None


def _settings_in_subprocess(**env) -> dict:
    """config.settings' database part as a fresh process with ``env`` sees it."""
    code = (
        "import json, django; from django.conf import settings; django.setup(); "
        "print(json.dumps({a: {k: d.get(k) for k in ('NAME', 'OPTIONS', 'TEST', "
        "'DISABLE_SERVER_SIDE_CURSORS')} for a, d in settings.DATABASES.items()}))"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE")}
    proc = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_replica_url_adds_the_replica_alias_mirrored_in_tests():
    dbs = _settings_in_subprocess(
        DATABASE_URL="postgres://desk:desk@127.0.0.1:5432/primary",
        DATABASE_REPLICA_URL="postgres://desk:desk@127.0.0.1:5433/primary",
    )
    assert set(dbs) == {"default", "replica"}
    assert dbs["replica"]["TEST"]["MIRROR"] == "default"
    assert dbs["replica"]["OPTIONS"]["connect_timeout"] == 3
    assert "replica" not in _settings_in_subprocess(DATABASE_URL="postgres://h/x")


@pytest.mark.parametrize("pooling", ["0", "1"])
def test_transaction_pooling_prepares_nothing_and_keeps_cursors_client_side(pooling):
    """Behind PgBouncer in transaction mode (Debian 12 ships 1.18, which forwards no prepared
    statement between server connections) nothing may be prepared and no server-side cursor may
    outlive its transaction; directly on PostgreSQL the inbound statement is prepared at once."""
    dbs = _settings_in_subprocess(
        DATABASE_URL="postgres://desk:desk@127.0.0.1:6432/desk",
        DATABASE_TRANSACTION_POOLING=pooling,
    )
    options = dbs["default"]["OPTIONS"] or {}
    if pooling == "1":
        assert "prepare_threshold" not in options
        assert dbs["default"]["DISABLE_SERVER_SIDE_CURSORS"] is True
    else:
        assert options["prepare_threshold"] == 1
        assert dbs["default"]["DISABLE_SERVER_SIDE_CURSORS"] is False
