"""Fixtures shared by the whole suite: the persona cast, a fast password hasher, tmp media."""

import os
from types import SimpleNamespace

import pytest
from celery._state import _set_task_join_will_block
from django.db import connection

from channels_app.access import Role
from service_levels.hours import forget_onboarding_holidays
from tests.factories import AdminUserFactory, ChannelFactory, GrantFactory, TeamFactory, UserFactory


@pytest.fixture(autouse=True)
def _celery_join_flag_reset():
    """A worker started in a test process (tests/whatsapp/test_broker_outage.py) sets Celery's
    process-wide "joining would block" flag, which makes a later test's ``result.get()`` raise
    "Never call result.get() within a task!"; put it back after every test, as
    celery.contrib.testing.worker does."""
    yield
    _set_task_join_will_block(False)


@pytest.fixture(autouse=True)
def _onboarding_holidays_read_afresh():
    """The onboarding checklist's holiday rule is kept per process for minutes
    (service_levels.hours): each test reads the holidays of its own database."""
    forget_onboarding_holidays()


@pytest.fixture(autouse=True)
def _fast_and_isolated(settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.SECURE_SSL_REDIRECT = False
    settings.LANGUAGE_CODE = "en"
    # Side-by-side auto-resolve loops each open their own connection, which cannot see the
    # uncommitted rows of a test's transaction; the concurrency tests (transaction=True) pass
    # workers explicitly.
    settings.AUTORESOLVE_WORKERS = 1


@pytest.fixture
def on_postgres():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL)")


@pytest.fixture
def cast(db):
    """The standard personas on one channel, each holding their role a different way.

    admin (superuser), supervisor (direct grant), contributor (direct grant), viewer (direct
    grant), team_contributor (via a team), all_users_viewer (via the channel's All Users switch
    on a second channel), and outsider (no access at all).
    """
    channel = ChannelFactory(display_name="Acme Support")
    other_channel = ChannelFactory(display_name="Other Brand")
    admin = AdminUserFactory(username="ada_admin")
    supervisor = UserFactory(username="sam_supervisor")
    contributor = UserFactory(username="carla_contributor")
    viewer = UserFactory(username="vic_viewer")
    team_contributor = UserFactory(username="tom_team")
    outsider = UserFactory(username="olga_outsider")
    GrantFactory(channel=channel, user=supervisor, role=Role.SUPERVISOR)
    GrantFactory(channel=channel, user=contributor, role=Role.CONTRIBUTOR)
    GrantFactory(channel=channel, user=viewer, role=Role.VIEWER)
    team = TeamFactory(name="Night shift", members=[team_contributor])
    GrantFactory(channel=channel, user=None, team=team, role=Role.CONTRIBUTOR)
    return SimpleNamespace(
        channel=channel,
        other_channel=other_channel,
        admin=admin,
        supervisor=supervisor,
        contributor=contributor,
        viewer=viewer,
        team_contributor=team_contributor,
        team=team,
        outsider=outsider,
    )


def pytest_report_header(config):
    from django.conf import settings

    return f"database backend: {settings.DATABASES['default']['ENGINE']}"


@pytest.fixture(autouse=True)
def _webhook_announcements_in_the_request(settings):
    """Nobody consumes the unit tests' broker: a webhook's receivers run in its request, as
    with the broker down (tests/conversations/test_signals.py covers the handover)."""
    settings.ANNOUNCE_WEBHOOKS_IN_WORKER = False


@pytest.fixture(autouse=True, scope="session")
def _in_memory_broker():
    """Unit tests publish tasks to an in-memory broker that nobody consumes; integration tests
    that need the real broker and a worker start them explicitly."""
    from config.celery import app

    app.conf.update(broker_url="memory://", broker_transport_options={}, task_always_eager=False)
    yield


def pytest_sessionfinish(session, exitstatus):
    """On SQLite the test database is a file of this run (config/settings.py); Django deletes
    it, but not the two files WAL keeps beside it."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3":
        name = database.get("TEST", {}).get("NAME")
        for suffix in ("-wal", "-shm"):
            if name and os.path.exists(name + suffix) and not os.path.exists(name):
                os.remove(name + suffix)
