"""The fault suite's private PostgreSQL cluster runs wherever the checkout lives.

As root the server runs as the ``postgres`` user, who may not enter the checkout (a clone under
/root). The test puts the suite's home in pytest's tmp_path, a directory only we may enter, as
such a checkout is; the cluster must start anyway, and leave nothing behind.
"""

import os
import stat
from pathlib import Path

import psycopg
import pytest

from bench import pg as bench_pg
from bench.faults import infra


@pytest.fixture
def cluster(tmp_path):
    if "PostgreSQL server (initdb/pg_ctl)" in infra.missing_binaries():
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    home = tmp_path / "checkout" / "var" / "faults"
    home.mkdir(parents=True)
    tmp_path.chmod(0o700)
    postgres = infra.Postgres(port=infra.free_port(), home=home)
    yield postgres
    postgres.remove()


def test_cluster_starts_outside_a_checkout_the_server_user_cannot_enter(cluster, tmp_path):
    cluster.start()
    cluster.fresh_database()
    with psycopg.connect(cluster.url, connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert not cluster.data.is_relative_to(tmp_path)
    owner = cluster.data.stat().st_uid
    assert owner == bench_pg._server_uid()
    assert stat.S_IMODE(cluster.data.stat().st_mode) == 0o700


def test_removing_the_cluster_deletes_its_directory_and_keeps_the_log(cluster):
    cluster.start()
    server_dir = cluster.server_dir
    cluster.remove()
    assert not server_dir.exists()
    assert (cluster.home / "logs" / "postgresql.log").read_text()
    assert cluster.server_dir is None
    cluster.remove()  # twice is harmless


def test_bench_cluster_stays_in_the_checkout_only_when_the_server_user_can_enter_it(tmp_path):
    tmp_path.chmod(0o700)
    expected = os.geteuid() != 0  # the server runs as us unless we are root
    assert bench_pg.server_user_can_enter(tmp_path) is expected
    assert bench_pg.server_user_can_enter(Path("/")) is True
