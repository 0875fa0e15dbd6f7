"""The admin pages of the service levels: desk admins only, and bad input is a form error."""

from __future__ import annotations

from datetime import timedelta

from django.urls import reverse

from service_levels.forms import ServiceSettingsForm, SlaPolicyForm
from tests.factories import ChannelFactory, TemplateFactory


def test_the_pages_are_for_desk_admins(client, cast):
    url = reverse("admin:service_levels_servicesettings_changelist")
    client.force_login(cast.supervisor)  # not staff: the admin's login page
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    client.force_login(cast.admin)
    assert client.get(url).status_code == 200
    assert client.get(reverse("admin:service_levels_slapolicy_add")).status_code == 200


def test_a_template_must_be_the_channels_approved_one_without_parameters(db):
    channel = ChannelFactory()
    other = TemplateFactory(channel=ChannelFactory(), components=[{"type": "BODY", "text": "Hi"}])
    with_params = TemplateFactory(channel=channel)  # "Hi {{1}}, ..."
    pending = TemplateFactory(
        channel=channel, status="PENDING", components=[{"type": "BODY", "text": "Hi"}]
    )
    base = {
        "channel": channel.pk,
        "time_zone": "Europe/Berlin",
        "csat_sample_percent": 100,
        "csat_delay": "00:10:00",
        "csat_question": "How did we do?",
    }
    for template, error in (
        (other, "Choose a template of this channel."),
        (with_params, "Choose a template without parameters."),
        (pending, "Choose an approved template."),
    ):
        form = ServiceSettingsForm({**base, "away_template": template.pk})
        assert not form.is_valid()
        assert form.errors["away_template"] == [error]
    form = ServiceSettingsForm({**base, "away_enabled": "on"})
    assert form.errors["away_text"] == ["Write the away message, or choose a template."]


def test_a_policy_needs_a_target_of_a_minute_at_least(db):
    channel = ChannelFactory()
    form = SlaPolicyForm({"channel": channel.pk, "business_hours": "on", "active": "on"})
    assert form.errors["__all__"] == ["Set at least one target."]
    form = SlaPolicyForm({"channel": channel.pk, "first_response": "00:00:30", "active": "on"})
    assert form.errors["first_response"] == ["A target is at least one minute."]
    form = SlaPolicyForm(
        {"channel": channel.pk, "first_response": str(timedelta(minutes=15)), "active": "on"}
    )
    assert form.is_valid(), form.errors
