"""The replica routing against a real streaming replica (pg_basebackup -R of a throwaway cluster).

Runs where the PostgreSQL server binaries are installed (a few seconds: two small clusters);
skipped elsewhere, where tests/deployment/test_db_routing.py covers the router with a fake lag.
"""

import contextlib
import time

import psycopg
import pytest
from django.db import DEFAULT_DB_ALIAS, connections

from bench.faults import infra
from bench.replica import Replica, wait_caught_up
from config import db_routing
from config.db_routing import REPLICA, ReplicaChooser, lag_from_cursor


@pytest.fixture(scope="module")
def clusters(tmp_path_factory):
    if "PostgreSQL server (initdb/pg_ctl)" in infra.missing_binaries():
        pytest.skip("PostgreSQL server binaries are not installed")
    primary = infra.Postgres(
        port=infra.free_port(), home=tmp_path_factory.mktemp("primary"), db="desk_replica"
    )
    replica = None
    try:
        primary.start()
        primary.fresh_database()
        with psycopg.connect(primary.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE written (id serial PRIMARY KEY, at timestamptz)")
        replica = Replica(primary.sockets, primary.port, infra.free_port())
        replica.start()
        wait_caught_up(primary.url, replica.url(primary.db), timeout=30)
        yield primary, replica
    finally:
        if replica is not None:
            replica.remove()
        primary.remove()


@pytest.fixture
def replica_alias(clusters, django_db_blocker):
    """The replica as Django's ``replica`` alias (as DATABASE_REPLICA_URL would configure it)."""
    _, replica = clusters
    base = connections.settings[DEFAULT_DB_ALIAS]
    if base["ENGINE"] != "django.db.backends.postgresql":
        base = {**base, "ENGINE": "django.db.backends.postgresql", "OPTIONS": {}}
    connections.settings[REPLICA] = {
        **base,
        "NAME": clusters[0].db,
        "USER": "bench",
        "PASSWORD": "bench",
        "HOST": "127.0.0.1",
        "PORT": str(replica.port),
        "OPTIONS": {"connect_timeout": 2},
    }
    try:
        with django_db_blocker.unblock():
            yield REPLICA
    finally:
        with contextlib.suppress(Exception):
            connections[REPLICA].close()
        with contextlib.suppress(AttributeError):
            delattr(connections._connections, REPLICA)
        del connections.settings[REPLICA]


def _write(primary) -> None:
    with psycopg.connect(primary.url, autocommit=True) as conn:
        conn.execute("INSERT INTO written (at) VALUES (now())")


def test_lag_on_a_streaming_replica_and_on_a_primary(clusters):
    primary, replica = clusters
    _write(primary)
    wait_caught_up(primary.url, replica.url(primary.db), timeout=10)
    with psycopg.connect(replica.url(primary.db), autocommit=True) as conn:
        assert lag_from_cursor(conn.cursor()) == 0.0
        # The written row is there: it is a copy of the primary, not an empty server.
        assert conn.execute("SELECT count(*) FROM written").fetchone()[0] >= 1
    with psycopg.connect(primary.url, autocommit=True) as conn:
        assert lag_from_cursor(conn.cursor()) == float("inf")


def test_reports_read_the_replica_until_it_lags_then_the_primary(clusters, replica_alias):
    primary, replica = clusters
    chooser = ReplicaChooser(max_lag_s=0.5, cache_s=0)
    assert db_routing.replica_lag_seconds(replica_alias) == 0.0
    assert chooser.choose() == REPLICA

    # Replay paused while the primary goes on writing: the replica falls behind.
    with psycopg.connect(replica.url(primary.db), autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_pause()")
        try:
            _write(primary)
            time.sleep(1.0)
            assert db_routing.replica_lag_seconds(replica_alias) >= 0.9
            assert chooser.choose() == DEFAULT_DB_ALIAS
        finally:
            conn.execute("SELECT pg_wal_replay_resume()")
    wait_caught_up(primary.url, replica.url(primary.db), timeout=10)
    assert chooser.choose() == REPLICA


def test_an_unreachable_replica_falls_back_to_the_primary(clusters, replica_alias):
    _, replica = clusters
    chooser = ReplicaChooser(max_lag_s=30, cache_s=0)
    assert chooser.choose() == REPLICA
    replica.stop()
    try:
        connections[replica_alias].close()
        assert chooser.choose() == DEFAULT_DB_ALIAS
    finally:
        replica._pg(
            "pg_ctl", "start", "-w", "-D", str(replica.data), "-l", str(replica.log),
            "-o", f"-p {replica.port} -k {replica.sockets} -c hot_standby=on",
        )  # fmt: skip
