"""The admin audit log (docs/audit.md): one row per change, right old and new values, never a
secret, read-only for admins with a CSV export, pruned after the retention period."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from api.models import ApiToken
from audit import registrations, registry, retention
from audit.models import AuditEntry
from channels_app import services
from channels_app.models import Channel, Team
from tests.channels_app.test_admin import TEAMS, USERS, add_inline_row, form_data
from tests.factories import AdminUserFactory, ChannelFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

CHANNEL_FORM = "channel_form"


def rows_for(obj) -> list[AuditEntry]:
    return list(
        AuditEntry.objects.filter(
            content_type__app_label=obj._meta.app_label,
            content_type__model=obj._meta.model_name,
            object_id=str(obj.pk),
        ).order_by("id")
    )


def change_channel(client, channel, **changes):
    url = reverse("admin:channels_app_channel_change", args=[channel.pk])
    data = form_data(client.get(url), CHANNEL_FORM)
    data.update(changes)
    response = client.post(url, data, REMOTE_ADDR="203.0.113.7")
    assert response.status_code == 302, response.content.decode()[:2000]


@pytest.fixture
def admin(client):
    user = AdminUserFactory(username="audra_admin")
    client.force_login(user)
    return user


# Each save changes other fields; each must leave exactly one row naming exactly those fields.
SAVES = [
    ({"display_name": "Acme Care"}, {"display_name": ["Acme Support", "Acme Care"]}),
    ({"auto_assign": ""}, {"auto_assign": [True, False]}),
    (
        {"auto_resolve_new_after_amount": "2", "all_users_enabled": "on"},
        {"auto_resolve_new_after": ["30 days, 0:00:00", "2 days, 0:00:00"],
         "all_users_enabled": [False, True]},
    ),
    ({"new_access_token": "EAAG-rotated-secret-1"}, {"access_token": "changed"}),
]


@pytest.mark.parametrize(("submitted", "expected"), SAVES)
def test_every_admin_save_of_a_channel_leaves_exactly_one_row_with_old_and_new(
    client, admin, submitted, expected
):
    channel = ChannelFactory(display_name="Acme Support")
    before = AuditEntry.objects.count()
    if "auto_assign" in submitted:
        url = reverse("admin:channels_app_channel_change", args=[channel.pk])
        data = form_data(client.get(url), CHANNEL_FORM)
        data.pop("auto_assign")  # an unticked box is not submitted
        assert client.post(url, data, REMOTE_ADDR="203.0.113.7").status_code == 302
    else:
        change_channel(client, channel, **submitted)

    assert AuditEntry.objects.count() == before + 1
    (row,) = rows_for(channel)[-1:]
    assert row.action == "update"
    assert row.changes == expected
    assert row.actor == admin
    assert row.actor_name == "audra_admin"
    assert row.source == "admin"
    assert row.remote_addr == "203.0.113.7"
    assert row.object_repr == str(Channel.objects.get(pk=channel.pk))


def test_a_save_that_changes_nothing_writes_no_row(client, admin):
    channel = ChannelFactory(display_name="Acme Support")
    before = AuditEntry.objects.count()
    change_channel(client, channel)
    assert AuditEntry.objects.count() == before


def test_channel_grants_added_in_the_admin_are_one_row_each_and_name_the_grantee(client, admin):
    channel = ChannelFactory(display_name="Acme Support")
    agent = UserFactory(username="gina_grant")
    url = reverse("admin:channels_app_channel_change", args=[channel.pk])
    data = add_inline_row(form_data(client.get(url), CHANNEL_FORM), USERS, user=agent.pk, role=20)
    assert client.post(url, data).status_code == 302

    grants = AuditEntry.objects.filter(content_type__model="accessgrant")
    assert grants.count() == 1
    assert grants.get().changes["user"] == [None, f"gina_grant (#{agent.pk})"]
    assert grants.get().changes["role"] == [None, 20]
    assert [r.action for r in rows_for(channel)] == ["create"]  # the factory; no change since
    assert TEAMS  # both inline prefixes exist on the page


def test_team_members_set_in_the_admin_are_one_row_with_before_and_after(client, admin):
    ann, bob, cid = (UserFactory(username=n) for n in ("ann", "bob", "cid"))
    team = TeamFactory(name="Night shift", members=[ann, bob])
    url = reverse("admin:channels_app_team_change", args=[team.pk])
    data = form_data(client.get(url), "team_form")
    data["members"] = [str(ann.pk), str(cid.pk)]
    before = len(rows_for(team))
    assert client.post(url, data).status_code == 302

    assert len(rows_for(team)) == before + 1
    row = rows_for(team)[-1]
    assert row.actor == admin
    assert row.changes == {"members": [["ann", "bob"], ["ann", "cid"]]}


def test_a_users_roles_are_audited_and_the_password_only_as_changed(client, admin):
    user = UserFactory(username="ursula")
    user.user_permissions.add(Permission.objects.get(codename="administer_channels"))
    user.is_staff = True
    user.set_password("a-new-password-123")
    user.save()

    rows = rows_for(user)
    changes = {k: v for row in rows for k, v in row.changes.items()}
    before, after = changes["user_permissions"]
    assert before == [] and len(after) == 1 and after[0].endswith("Can administer every channel")
    assert changes["is_staff"] == [False, True]
    assert changes["password"] == "changed"
    assert "a-new-password" not in str([r.changes for r in rows])


def test_a_service_call_outside_a_request_is_the_system_and_one_row(db):
    channel = ChannelFactory(display_name="Acme Support")
    services.update_channel_settings(channel, actor=None, display_name="Acme", is_active=False)
    (row,) = rows_for(channel)[-1:]
    assert row.source == "system" and row.actor is None and row.actor_name == "system"
    assert row.changes == {"display_name": ["Acme Support", "Acme"], "is_active": [True, False]}


def test_a_management_command_names_itself(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "a-long-password-42")
    call_command("createsuperuser", "--noinput", username="root2", email="r@example.com")
    (row,) = rows_for(get_user_model().objects.get(username="root2"))
    assert row.action == "create"
    assert row.source == "command"
    assert row.actor_name.startswith("command createsuperuser (")
    assert row.changes["is_superuser"] == [None, True]
    assert row.changes["password"] == "changed"


def test_deleting_a_team_is_one_row_with_its_last_values(client, admin):
    team = TeamFactory(name="Weekend")
    url = reverse("admin:channels_app_team_delete", args=[team.pk])
    assert client.post(url, {"post": "yes"}).status_code == 302
    (row,) = AuditEntry.objects.filter(action="delete", content_type__model="team")
    assert row.changes == {"name": ["Weekend", None]}
    assert not Team.objects.filter(pk=team.pk).exists()


def test_no_audit_row_contains_a_token(client, admin):
    """Channel tokens typed in the admin and API tokens created there: the raw text of every
    audit row (read straight from the database) holds none of them, nor their ciphertext."""
    secrets = ["EAAG-first-secret-token-1", "EAAG-rotated-secret-token-2"]
    add = form_data(client.get(reverse("admin:channels_app_channel_add")), CHANNEL_FORM)
    add.update(display_name="Tokened", phone_number_id="5550001", new_access_token=secrets[0])
    assert client.post(reverse("admin:channels_app_channel_add"), add).status_code == 302
    channel = Channel.objects.get(display_name="Tokened")
    change_channel(client, channel, new_access_token=secrets[1])

    response = client.post(
        reverse("admin:api_apitoken_add"), {"name": "CRM", "channels": [channel.pk]}
    )
    assert response.status_code == 200
    api_token = response.context["raw_token"]
    secrets += [api_token, ApiToken.objects.get().token_hash]
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM audit_auditentry")
        raw = repr(cursor.fetchall())
        cursor.execute("SELECT access_token FROM channels_app_channel WHERE id = %s", [channel.pk])
        secrets.append(cursor.fetchone()[0])  # the stored ciphertext
    assert AuditEntry.objects.filter(content_type__model="channel").count() == 2
    assert AuditEntry.objects.filter(content_type__model="apitoken").count() == 1
    for secret in secrets:
        assert secret not in raw
    assert "gAAAAA" not in raw
    assert raw.count('"changed"') + raw.count("'changed'") >= 3


def test_api_token_creation_is_one_row_with_its_channels(client, admin):
    channel = ChannelFactory(display_name="Acme Support")
    client.post(reverse("admin:api_apitoken_add"), {"name": "CRM", "channels": [channel.pk]})
    (row,) = rows_for(ApiToken.objects.get())
    assert row.action == "create"
    assert row.changes["channels"] == [[], ["Acme Support"]]
    assert row.changes["token_hash"] == "changed"
    assert row.changes["name"] == [None, "CRM"]


# --- the admin view ------------------------------------------------------------------------------
def test_the_log_is_read_only_for_admins_and_hidden_from_other_staff(client, admin):
    channel = ChannelFactory(display_name="Acme Support")
    change_channel(client, channel, display_name="Acme Care")
    row = rows_for(channel)[-1]
    changelist = reverse("admin:audit_auditentry_changelist")
    page = client.get(changelist, {"action__exact": "update"})
    assert page.status_code == 200
    assert "Acme Care" in page.content.decode()
    detail = client.get(reverse("admin:audit_auditentry_change", args=[row.pk])).content.decode()
    assert "desk-audit-changes" in detail and "Acme Support" in detail
    assert 'name="_save"' not in detail
    assert client.post(reverse("admin:audit_auditentry_delete", args=[row.pk])).status_code == 403

    staff = UserFactory(username="stan", is_staff=True)
    client.force_login(staff)
    assert client.get(changelist).status_code == 403
    assert client.get(reverse("admin:audit_auditentry_export")).status_code == 403


def test_csv_export_follows_the_filters_one_line_per_field(client, admin):
    channel = ChannelFactory(display_name="Acme Support")
    change_channel(client, channel, display_name="Acme Care", new_access_token="EAAG-x-secret")
    TeamFactory(name="Unrelated")
    export = reverse("admin:audit_auditentry_export")
    response = client.get(
        export,
        {"content_type__id__exact": rows_for(channel)[0].content_type_id, "action": "update"},
    )
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert lines[0][:2] == ["time", "actor"]
    body = lines[1:]
    assert {line[8] for line in body} == {"access_token", "display_name"}
    assert ["display_name", "Acme Support", "Acme Care"] in [line[8:] for line in body]
    assert ["access_token", "(secret)", "changed"] in [line[8:] for line in body]
    assert all(line[5] == "Channels and access | channel" for line in body)
    assert "EAAG-x-secret" not in str(lines)
    assert client.get(export, {"no_such_filter": "1"}).status_code == 400


def test_the_admin_pages_are_translated(client, admin):
    page = client.get(reverse("admin:audit_auditentry_changelist"), HTTP_ACCEPT_LANGUAGE="de")
    assert "Protokolleinträge" in page.content.decode()
    assert "CSV exportieren" in page.content.decode()


# --- retention -----------------------------------------------------------------------------------
def test_prune_deletes_rows_past_the_retention_and_keeps_the_rest(settings):
    settings.AUDIT_RETENTION_DAYS = 400
    channel = ChannelFactory()
    services.update_channel_settings(channel, actor=None, display_name="A")
    services.update_channel_settings(channel, actor=None, display_name="B")
    old, recent = rows_for(channel)[-2:]
    now = timezone.now()
    AuditEntry.objects.filter(pk=old.pk).update(at=now - timedelta(days=401))
    AuditEntry.objects.filter(pk=recent.pk).update(at=now - timedelta(days=399))

    assert retention.prune(now=now, batch_size=1) == 1
    assert not AuditEntry.objects.filter(pk=old.pk).exists()
    assert AuditEntry.objects.filter(pk=recent.pk).exists()


def test_the_retention_is_at_least_a_year_and_pruned_by_beat(settings):
    assert settings.AUDIT_RETENTION_DAYS >= 365
    schedule = settings.CELERY_BEAT_SCHEDULE["prune-audit-log"]
    assert schedule["task"] == "audit.tasks.prune_audit_log"


# --- the registrations ---------------------------------------------------------------------------
def test_every_listed_model_of_an_installed_app_is_registered():
    """A misspelt or renamed model in audit/registrations.py would be skipped silently."""
    for label, _options in registrations.AUDITED + registrations.OPTIONAL:
        app_label, _, name = label.partition(".")
        if not apps.is_installed(app_label):
            continue
        model = apps.get_model(app_label, name)
        assert registry.is_registered(model), label
    assert registry.is_registered(get_user_model())


def test_one_row_per_object_for_several_saves_in_one_transaction():
    channel = ChannelFactory(display_name="A")
    with transaction.atomic():
        services.update_channel_settings(channel, actor=None, display_name="B")
        services.update_channel_settings(channel, actor=None, display_name="C", auto_assign=False)
    (row,) = [r for r in rows_for(channel) if r.action == "update"]
    assert row.changes == {"display_name": ["A", "C"], "auto_assign": [True, False]}


def test_deleting_a_user_in_the_admin_audits_the_user_and_the_grants_that_go_with_it(
    client, admin
):
    agent = UserFactory(username="gone_agent")
    channel = ChannelFactory(display_name="Acme Support")
    services.grant_access(channel, actor=None, role=20, user=agent)
    url = reverse("admin:auth_user_delete", args=[agent.pk])
    assert client.post(url, {"post": "yes"}).status_code == 302

    deleted = AuditEntry.objects.filter(action="delete")
    grant = deleted.get(content_type__model="accessgrant")
    assert grant.changes["user"] == [f"gone_agent (#{agent.pk})", None]
    assert grant.object_repr.startswith("gone_agent → Acme Support")
    assert deleted.get(content_type__model="user").object_repr == "gone_agent"
