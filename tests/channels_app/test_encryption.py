"""Access tokens are encrypted at rest (issue 12, item 1): a database dump holds no usable token,
keys rotate with `reencrypt_secrets`, the data migration encrypts rows written before."""

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from channels_app import encryption
from channels_app.models import Channel
from onboarding.models import Onboarding
from tests.factories import ChannelFactory, OnboardingFactory

TOKEN = "EAAGsecret-meta-token-5b3e7d21"
KEY_OLD = Fernet.generate_key().decode()
KEY_NEW = Fernet.generate_key().decode()
ROOT = Path(__file__).resolve().parents[2]


def raw_token(table: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT access_token FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


def write_raw(table: str, pk: int, value: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET access_token = %s WHERE id = %s", [value, pk])  # noqa: S608


@pytest.mark.django_db
def test_the_table_holds_no_usable_token_and_the_orm_reads_clear_text(settings):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_NEW]
    channel = ChannelFactory(access_token=TOKEN)
    onboarding = OnboardingFactory(access_token=TOKEN)

    rows = (("channels_app_channel", channel.pk), ("onboarding_onboarding", onboarding.pk))
    for table, pk in rows:
        stored = raw_token(table, pk)
        assert TOKEN not in stored
        assert TOKEN[:8] not in stored
        assert stored.startswith(encryption.TOKEN_PREFIX)
        assert Fernet(KEY_NEW.encode()).decrypt(stored.encode()).decode() == TOKEN
    assert Channel.objects.get(pk=channel.pk).access_token == TOKEN
    assert Onboarding.objects.get(pk=onboarding.pk).access_token == TOKEN


@pytest.mark.django_db
def test_the_same_token_is_stored_differently_each_time(settings):
    a, b = ChannelFactory(access_token=TOKEN), ChannelFactory(access_token=TOKEN)
    assert raw_token("channels_app_channel", a.pk) != raw_token("channels_app_channel", b.pk)


@pytest.mark.django_db
def test_an_empty_token_stays_empty_so_filters_on_it_keep_working():
    without = ChannelFactory(access_token="")
    ChannelFactory(access_token=TOKEN)
    assert raw_token("channels_app_channel", without.pk) == ""
    assert list(Channel.objects.filter(access_token="")) == [without]


@pytest.mark.django_db
def test_reencrypt_moves_every_secret_to_the_newest_key(settings):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_OLD]
    channel = ChannelFactory(access_token=TOKEN)
    onboarding = OnboardingFactory(access_token="EAAGoperator")
    before = raw_token("channels_app_channel", channel.pk)

    settings.FIELD_ENCRYPTION_KEYS = [KEY_NEW, KEY_OLD]  # rotation: the new key first
    assert Channel.objects.get(pk=channel.pk).access_token == TOKEN  # the old key still reads

    out = StringIO()
    call_command("reencrypt_secrets", "--dry-run", stdout=out)
    assert "Dry run: 2 secrets would be re-encrypted; nothing was changed." in out.getvalue()
    assert raw_token("channels_app_channel", channel.pk) == before

    out = StringIO()
    call_command("reencrypt_secrets", stdout=out)
    assert (
        "channels_app.Channel.access_token: 1 stored, 0 already under the newest key, "
        "1 under an older key" in out.getvalue()
    )
    assert "2 secrets re-encrypted with the newest key." in out.getvalue()

    settings.FIELD_ENCRYPTION_KEYS = [KEY_NEW]  # the old key is gone
    assert Channel.objects.get(pk=channel.pk).access_token == TOKEN
    assert Onboarding.objects.get(pk=onboarding.pk).access_token == "EAAGoperator"
    out = StringIO()
    call_command("reencrypt_secrets", stdout=out)
    assert "0 secrets re-encrypted" in out.getvalue()


@pytest.mark.django_db
def test_reencrypt_encrypts_clear_text_left_by_raw_sql(settings):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_NEW]
    channel = ChannelFactory(access_token="")
    write_raw("channels_app_channel", channel.pk, TOKEN)
    call_command("reencrypt_secrets", stdout=StringIO())
    assert TOKEN not in raw_token("channels_app_channel", channel.pk)
    assert Channel.objects.get(pk=channel.pk).access_token == TOKEN


@pytest.mark.django_db
def test_reencrypt_fails_and_changes_nothing_when_a_key_is_missing(settings):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_OLD]
    channel = ChannelFactory(access_token=TOKEN)
    stored = raw_token("channels_app_channel", channel.pk)
    settings.FIELD_ENCRYPTION_KEYS = [KEY_NEW]
    with pytest.raises(CommandError, match="1 stored secret cannot be decrypted"):
        call_command("reencrypt_secrets", stdout=StringIO())
    assert raw_token("channels_app_channel", channel.pk) == stored
    unreadable = r"channels_app\.Channel\.access_token cannot be decrypted"
    with pytest.raises(encryption.UndecryptableSecret, match=unreadable):
        Channel.objects.get(pk=channel.pk)


@pytest.mark.django_db
def test_reencrypt_refuses_the_development_key_in_production(settings):
    settings.DEBUG = False
    settings.FIELD_ENCRYPTION_KEYS = []
    with pytest.raises(CommandError, match="FIELD_ENCRYPTION_KEYS is not set"):
        call_command("reencrypt_secrets", stdout=StringIO())


@pytest.mark.django_db(transaction=True)
def test_the_data_migration_encrypts_tokens_stored_before_it(settings):
    executor = MigrationExecutor(connection)
    executor.migrate([("channels_app", "0003_template_status_event_time")])
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO channels_app_channel (kind, display_name, is_active, auto_assign,"
            " all_users_enabled, all_users_role, all_teams_enabled, all_teams_role,"
            " phone_number_id, waba_id, display_phone_number, verified_name, access_token,"
            " created_at, updated_at) VALUES ('whatsapp', 'Old', true, true, false, 10, false,"
            " 10, '1555000111', '1', '+1', 'Old', %s, %s, %s)",
            [TOKEN, "2026-01-01 00:00:00", "2026-01-01 00:00:00"],
        )
        cursor.execute("SELECT id FROM channels_app_channel WHERE display_name = 'Old'")
        pk = cursor.fetchone()[0]
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert TOKEN not in raw_token("channels_app_channel", pk)
    assert Channel.objects.get(pk=pk).access_token == TOKEN


def test_check_deploy_requires_keys_when_debug_is_off(settings):
    settings.DEBUG = False
    settings.FIELD_ENCRYPTION_KEYS = []
    ids = [m.id for m in run_checks(include_deployment_checks=True, tags=["security"])]
    assert "channels_app.E001" in ids
    settings.FIELD_ENCRYPTION_KEYS = [KEY_NEW]
    ids = [m.id for m in run_checks(include_deployment_checks=True, tags=["security"])]
    assert "channels_app.E001" not in ids
    settings.FIELD_ENCRYPTION_KEYS = ["not-a-key"]
    ids = [m.id for m in run_checks(tags=["security"])]
    assert "channels_app.E002" in ids


@pytest.mark.parametrize(
    ("env", "starts"),
    [
        ({"DEBUG": "0"}, False),
        ({"DEBUG": "0", "FIELD_ENCRYPTION_KEYS": KEY_NEW}, True),
        ({"DEBUG": "1"}, True),
    ],
)
def test_the_web_process_refuses_to_start_in_production_without_keys(env, starts):
    clean = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "FIELD_ENCRYPTION_KEYS")}
    proc = subprocess.run(
        [sys.executable, "-c", "import config.wsgi"],
        env={**clean, **env, "SECRET_KEY": "x" * 60},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (proc.returncode == 0) is starts, proc.stderr[-800:]
    if not starts:
        assert "FIELD_ENCRYPTION_KEYS is not set and DEBUG is off" in proc.stderr
