"""Help texts and errors that name a default or a limit take the number from its constant, so
the number is written once (issue 14: the "30 days" text in one place)."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from channels_app import admin_forms, template_forms
from channels_app.admin_forms import AutoResolveField, ChannelForm


def help_text(form_class, name: str) -> str:
    return str(form_class.base_fields[name].help_text)


def test_auto_resolve_help_names_the_models_default_in_english_and_german():
    with translation.override("en"):
        assert help_text(ChannelForm, "auto_resolve_new_after").endswith("Default 30 days.")
        assert help_text(ChannelForm, "auto_resolve_pending_after").endswith("Default 30 days.")
    with translation.override("de"):
        assert help_text(ChannelForm, "auto_resolve_new_after").endswith("Standard: 30 Tage.")


def test_auto_resolve_help_follows_the_default_constant(monkeypatch):
    monkeypatch.setattr(admin_forms, "DEFAULT_AUTO_RESOLVE", timedelta(days=14))
    with translation.override("en"):
        assert help_text(ChannelForm, "auto_resolve_new_after").endswith("Default 14 days.")


def test_the_too_long_error_follows_the_maximum_constant(monkeypatch):
    monkeypatch.setattr(admin_forms, "MAX_AUTO_RESOLVE", timedelta(days=90))
    field = AutoResolveField()
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        field.clean(["91", "days", False])
    assert refused.value.messages == ["At most 90 days (2160 hours)."]


def test_template_help_texts_follow_template_services_limits(monkeypatch):
    with translation.override("en"):
        assert "at most 60 characters" in help_text(template_forms.TemplateDraftForm, "header")
        assert help_text(template_forms.TemplateDraftForm, "buttons").startswith("At most 10:")
    monkeypatch.setitem(template_forms.LIMITS, "body", 900)
    with translation.override("de"):
        assert "Höchstens 900 Zeichen" in help_text(template_forms.TemplateDraftForm, "body")
