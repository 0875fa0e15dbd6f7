"""The service-level figures of the summary CSV and of ``manage.py report --json`` read where
the rest of the report reads (config/db_routing.py): the replica when it is fresh, the primary
when it lags (the replica alias and its fake lag come from tests/deployment/test_report_routing.py).
"""

from __future__ import annotations

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from config.db_routing import REPLICA
from tests.deployment.test_report_routing import replica, replica_alias  # noqa: F401
from tests.service_levels.test_reports import world  # noqa: F401
from tests.service_levels.test_reports_exports import command_json, summary_csv, supervisor

SERVICE_LEVEL_TABLES = ("service_levels_slatarget", "service_levels_csatsurvey")


@pytest.mark.django_db(transaction=True, databases=["default", REPLICA])
@pytest.mark.parametrize(("lag", "reader"), [(2.0, REPLICA), (45.0, "default")])
def test_the_csv_and_command_read_the_service_levels_where_the_report_reads(
    client,
    cast,
    world,  # noqa: F811
    replica,  # noqa: F811
    lag,
    reader,
):
    replica["seconds"] = lag
    other = "default" if reader == REPLICA else REPLICA
    channel, *_ = world
    supervisor(client, cast, channel)

    def statements(queries):
        return [q["sql"] for q in queries if any(t in q["sql"] for t in SERVICE_LEVEL_TABLES)]

    for step in (lambda: summary_csv(client, channel), lambda: command_json(channel)):
        with (
            CaptureQueriesContext(connections[reader]) as read,
            CaptureQueriesContext(connections[other]) as elsewhere,
        ):
            step()
        assert statements(read)
        assert not statements(elsewhere)
