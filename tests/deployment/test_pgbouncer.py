"""The desk's statements through a real PgBouncer in transaction mode (Debian's package).

In transaction mode consecutive transactions of one client may run on different server
connections. A statement prepared on one (what psycopg does after ``prepare_threshold``
executions of a server-side bound statement, as the inbound statement is bound) is unknown on
the next: PgBouncer 1.18 (Debian 12) carries no prepared statement across (1.21 added
``max_prepared_statements``). So ``DATABASE_TRANSACTION_POOLING=1`` makes Django connect with
no prepare threshold (tests/deployment/test_db_routing.py pins the setting); here the same two
clients run the inbound statement's way of binding, first as the setting leaves it (works), then
with the threshold the direct connection uses (fails: the reason the setting exists).

Skipped where pgbouncer or PostgreSQL are missing; .ci/run installs pgbouncer.
"""

import psycopg
import pytest
from django.db import connection

from bench import pgbouncer
from bench.pgbouncer import PgBouncer

pytestmark = pytest.mark.django_db(transaction=True)

STATEMENT = "SELECT count(*) FROM conversations_conversation WHERE channel_id = %s"


@pytest.fixture
def bouncer(on_postgres):
    if not pgbouncer.binary():
        pytest.skip("pgbouncer is not installed")
    db = connection.settings_dict
    if db["HOST"] not in ("127.0.0.1", "localhost"):
        pytest.skip("PgBouncer runs on loopback in front of a local server")
    server = PgBouncer(
        server_port=int(db["PORT"] or 5432), pool_size=2, user=db["USER"],
        password=db["PASSWORD"],
    )  # fmt: skip
    server.start()
    try:
        yield server, server.url(db["NAME"]).replace("postgres://", "postgresql://", 1)
    finally:
        server.stop()


def _interleave(url: str, prepare_threshold: int | None, rounds: int = 6) -> list[int]:
    """Client A runs the statement bound server-side (psycopg.Cursor, as
    conversations/inbound_sql.py binds the inbound statement) while client B keeps the server
    connection A last used busy in an open transaction, so A's next statement lands on the
    other server connection."""
    results = []
    with (
        psycopg.connect(url, autocommit=True, prepare_threshold=prepare_threshold) as a,
        psycopg.connect(url, autocommit=True) as b,
    ):
        for i in range(rounds):
            with psycopg.Cursor(a) as cursor:
                cursor.execute(STATEMENT, [i])
                results.append(cursor.fetchone()[0])
            if i % 2 == 0:
                b.execute("BEGIN")
                b.execute("SELECT 1")
            else:
                b.execute("COMMIT")
    return results


def test_the_pooling_setting_binds_without_preparing_and_survives_server_switches(bouncer):
    _, url = bouncer
    # What Django passes with DATABASE_TRANSACTION_POOLING=1: no threshold, nothing prepared.
    assert _interleave(url, prepare_threshold=None) == [0] * 6


def test_a_prepared_statement_breaks_behind_transaction_pooling(bouncer):
    _, url = bouncer
    with pytest.raises(psycopg.errors.InvalidSqlStatementName, match="does not exist"):
        _interleave(url, prepare_threshold=1)
