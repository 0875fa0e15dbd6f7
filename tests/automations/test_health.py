"""Channel health: quality, limit, account and template webhooks and a failing token recorded per
channel, shown on the health panel and the channel's page, alerted at once (issue 19 item 4)."""

import logging

import pytest
from django.urls import reverse

from automations import health_alerts
from channels_app import health
from channels_app.health_models import ChannelHealth, HealthEvent
from channels_app.models import MessageTemplate
from conversations import queries
from tests.factories import AdminUserFactory, TemplateFactory
from tests.whatsapp.conftest import fixture_bytes, post_signed


@pytest.fixture
def admin_client(client, db):
    client.force_login(AdminUserFactory(username="ada"))
    return client


def _post(client, name, capture):
    with capture(execute=True):
        response = post_signed(client, fixture_bytes(f"health/{name}"))
    assert response.status_code == 200, response.content
    return response


def test_a_quality_rating_webhook_updates_the_health_panel(
    admin_client, channel, django_capture_on_commit_callbacks, caplog
):
    panel_url = reverse("admin:channels_app_channelhealth_changelist")
    before = admin_client.get(panel_url).content.decode()
    assert "reported nothing about this channel yet" in before

    with caplog.at_level(logging.WARNING, logger="channels_app.health"):
        _post(admin_client, "phone_number_quality_flagged", django_capture_on_commit_callbacks)
    state = ChannelHealth.objects.get(channel=channel)
    assert (state.quality_rating, state.quality_event, state.messaging_limit) == (
        "RED", "FLAGGED", "TIER_1K",
    )
    page = admin_client.get(panel_url).content.decode()
    assert 'class="quality q-red"' in page
    assert "Low (red)" in page
    assert "TIER_1K" in page
    # Alerted: in the log at once, and in the banner's feed.
    assert any("Quality rating low" in r.getMessage() for r in caplog.records)
    alerts = admin_client.get(reverse("admin:channels_app_channelhealth_alerts")).json()["alerts"]
    assert alerts[0]["summary"].startswith("Quality rating low")

    _post(admin_client, "phone_number_quality_downgrade", django_capture_on_commit_callbacks)
    state.refresh_from_db()
    assert state.messaging_limit == "TIER_250"
    # The channel's own admin page shows the same.
    change = admin_client.get(reverse("admin:channels_app_channel_change", args=[channel.pk]))
    assert 'id="channel-health"' in change.content.decode()
    assert "TIER_250" in change.content.decode()


def test_an_account_restriction_is_shown_until_lifted(
    admin_client, channel, django_capture_on_commit_callbacks
):
    _post(admin_client, "account_update_restriction", django_capture_on_commit_callbacks)
    state = ChannelHealth.objects.get(channel=channel)
    assert state.account_status == "RESTRICTED"
    assert state.account_detail == "RESTRICTED_BIZ_INITIATED_MESSAGING"
    assert state.restricted_until is not None
    page = admin_client.get(reverse("admin:channels_app_channelhealth_changelist")).content
    assert b"RESTRICTED" in page
    assert HealthEvent.objects.get(channel=channel).severity == HealthEvent.Severity.CRITICAL


def test_a_paused_template_leaves_the_picker_at_once_and_alerts(
    admin_client, channel, django_capture_on_commit_callbacks
):
    template = TemplateFactory(channel=channel, name="spring_sale", provider_id="778899001122335")
    assert template in queries.sendable_templates(channel)
    _post(admin_client, "template_paused", django_capture_on_commit_callbacks)
    template.refresh_from_db()
    assert template.status == MessageTemplate.Status.PAUSED
    assert template not in queries.sendable_templates(channel)
    event = HealthEvent.objects.get(channel=channel, kind="template")
    assert "spring_sale" in event.summary and "paused" in event.summary

    _post(admin_client, "template_quality_red", django_capture_on_commit_callbacks)
    template.refresh_from_db()
    assert template.quality_score == "RED"
    assert HealthEvent.objects.filter(channel=channel, kind="template").count() == 2


def test_a_failing_token_is_recorded_once_and_cleared_by_a_new_one(admin_client, channel):
    assert health.record_token_failure(channel.pk, code=190, error="Error validating token")
    assert not health.record_token_failure(channel.pk, code=190, error="again")  # not news
    assert HealthEvent.objects.filter(channel=channel, kind="token").count() == 1
    page = admin_client.get(reverse("admin:channels_app_channelhealth_changelist")).content
    assert b"Stopped working" in page
    from channels_app import services

    services.update_channel_settings(
        channel, actor=AdminUserFactory(), access_token="EAAG-new-token"
    )
    assert ChannelHealth.objects.get(channel=channel).token_failed_at is None


def test_alerts_are_pushed_to_every_admin(channel, monkeypatch, django_capture_on_commit_callbacks):
    admins = [AdminUserFactory(), AdminUserFactory()]
    pushed = []
    monkeypatch.setattr(health_alerts.push, "push_to_user",
                        lambda user_id, kind, data: pushed.append((user_id, kind, data)))
    with django_capture_on_commit_callbacks(execute=True):
        health.apply_quality_update(waba_id=channel.waba_id, display_phone_number="15550100234",
                                    event="FLAGGED", current_limit="TIER_1K")
    assert {p[0] for p in pushed} == {a.pk for a in admins}
    assert {p[1] for p in pushed} == {"channel_health"}


@pytest.mark.parametrize("language", ["en", "de"])
def test_health_pages_render_for_admins_only(client, channel, language):
    health.apply_quality_update(waba_id=channel.waba_id, display_phone_number="15550100234",
                                event="FLAGGED", current_limit="TIER_1K")
    headers = {"HTTP_ACCEPT_LANGUAGE": language}
    client.force_login(AdminUserFactory())
    for name in ("channelhealth", "healthevent"):
        url = reverse(f"admin:channels_app_{name}_changelist")
        assert client.get(url, **headers).status_code == 200
    from tests.factories import UserFactory

    client.force_login(UserFactory(is_staff=True))
    url = reverse("admin:channels_app_channelhealth_changelist")
    assert client.get(url).status_code == 403
    assert client.get(reverse("admin:channels_app_channelhealth_alerts")).json() == {"alerts": []}
