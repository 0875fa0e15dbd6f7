"""The report entry points (page, CSV export, ``report`` command) read where the router says.

CI has no streaming replica, so the ``replica`` alias here is a second connection to the test
database (what ``TEST: MIRROR`` does) and the lag comes from a fake source: the test shows
which connection ran the report's statements, fresh replica and lagging replica.
tests/deployment/test_replica.py measures the lag on a real standby.
"""

from __future__ import annotations

import contextlib
import json
from io import StringIO

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from config import db_routing
from config.db_routing import REPLICA, ReplicaChooser
from tests.factories import ProfileFactory
from tests.reports import test_reports as known

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", REPLICA])

history = known.history
URL = reverse("reports:index")
PARAMS = {"range": "custom", "from": "2025-03-10", "to": "2025-03-12"}
REPORT_TABLES = ("conversations_message", "conversations_conversation")


@pytest.fixture(scope="module", autouse=True)
def replica_alias(django_db_setup):
    """A ``replica`` alias: the test database over a connection of its own (set up before the
    tests' database access is, so the tests may use it)."""
    alias_settings = dict(connections.settings["default"])
    alias_settings["TEST"] = {**alias_settings.get("TEST", {}), "MIRROR": None}
    connections.settings[REPLICA] = alias_settings
    django_settings.DATABASES[REPLICA] = alias_settings
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            connections[REPLICA].close()
        with contextlib.suppress(AttributeError):
            delattr(connections._connections, REPLICA)
        connections.settings.pop(REPLICA, None)
        django_settings.DATABASES.pop(REPLICA, None)


@pytest.fixture
def replica(monkeypatch):
    """The replica's lag, as the chooser reads it (a fake source: CI runs no standby)."""
    lag = {"seconds": 0.0}
    monkeypatch.setattr(
        db_routing,
        "_chooser",
        ReplicaChooser(max_lag_s=30, cache_s=0, lag=lambda alias: lag["seconds"]),
    )
    return lag


def report_statements(queries) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if any(t in q["sql"] for t in REPORT_TABLES)]


def entry_points(client, history):
    """Open the page, export a CSV and run the command; yields after each."""
    ProfileFactory(user=history.cast.supervisor, time_zone="Europe/Berlin")
    client.force_login(history.cast.supervisor)
    response = client.get(URL, {"channel": history.a.pk, **PARAMS})
    assert response.status_code == 200
    yield "page"
    response = client.get(
        URL, {"channel": history.a.pk, **PARAMS, "format": "csv", "table": "agents"}
    )
    assert response.status_code == 200
    assert "Alice Agent" in response.content.decode()
    yield "csv"
    out = StringIO()
    call_command(
        "report", "--channel", str(history.a.pk), "--from", "2025-03-10", "--to", "2025-03-12",
        "--tz", "Europe/Berlin", "--json", stdout=out,
    )  # fmt: skip
    assert json.loads(out.getvalue())["summary"]["opened"] == 6
    yield "command"


@pytest.mark.parametrize(("lag", "reader"), [(2.0, REPLICA), (45.0, "default")])
def test_reports_exports_and_command_read_the_replica_unless_it_lags(
    client, history, replica, lag, reader
):
    replica["seconds"] = lag
    other = "default" if reader == REPLICA else REPLICA
    steps = entry_points(client, history)
    while True:
        with (
            CaptureQueriesContext(connections[reader]) as read,
            CaptureQueriesContext(connections[other]) as elsewhere,
        ):
            step = next(steps, None)
        if step is None:
            break
        assert report_statements(read), f"{step}: no report statement on {reader}"
        assert not report_statements(elsewhere), f"{step}: report statements on {other}"
