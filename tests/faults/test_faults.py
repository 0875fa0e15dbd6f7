"""The fault suite at CI size: every fault of `make faults`, a few seconds each, nothing lost.

One stack (a private PostgreSQL and Redis, the Procfile's gunicorn, Celery worker and beat, the
WhatsApp emulator as a real HTTP server) serves all cases; each case is its own test so a failure
names the fault. Skips with the reason when the PostgreSQL or Redis server binaries are missing.
Deselect with ``-m "not faults"``.
"""

import logging

import pytest

from bench.faults import infra, suite

pytestmark = pytest.mark.faults
logger = logging.getLogger(__name__)


@pytest.fixture(scope="module")
def results():
    missing = infra.missing_binaries()
    if missing:
        pytest.skip(f"the fault suite needs {', '.join(missing)}")
    ran = suite.run(quick=True, log=logger.info)
    logger.info("fault suite:\n%s", suite.table(ran))
    return {r.case[0]: r for r in ran}


@pytest.mark.parametrize(
    "case",
    [
        pytest.param("a", id="webhooks-redelivered-3x-out-of-order"),
        pytest.param("b", id="redis-down-while-agents-reply"),
        pytest.param("c", id="celery-worker-killed-mid-send"),
        pytest.param("d", id="provider-429-500-outage"),
        pytest.param("e", id="postgresql-restart-under-webhook-load"),
    ],
)
def test_nothing_lost_or_duplicated(results, case):
    result = results[case]
    assert result.sent > 0, suite.format_row(result)
    assert (result.lost, result.duplicated) == (0, 0), suite.format_row(result)
    assert result.ok, suite.format_row(result)
