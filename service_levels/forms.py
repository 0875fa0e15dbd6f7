"""The admin forms' rules: templates of the channel and approved, sensible intervals."""

from django import forms
from django.utils.translation import gettext_lazy as _

from service_levels.models import BusinessInterval, ServiceSettings, SlaPolicy

TEMPLATE_FIELDS = ("away_template", "csat_template")


class ServiceSettingsForm(forms.ModelForm):
    class Meta:
        model = ServiceSettings
        fields = [
            "channel",
            "hours_enabled",
            "time_zone",
            "holiday_sets",
            "away_enabled",
            "away_text",
            "away_template",
            "greeting_enabled",
            "greeting_text",
            "csat_enabled",
            "csat_sample_percent",
            "csat_delay",
            "csat_question",
            "csat_template",
            "csat_comment_question",
        ]
        # A few sets at most: ticks read better than the two-list picker.
        widgets = {"holiday_sets": forms.CheckboxSelectMultiple}

    def clean(self):
        data = super().clean()
        channel = data.get("channel") or getattr(self.instance, "channel", None)
        for name in TEMPLATE_FIELDS:
            template = data.get(name)
            if template is None:
                continue
            if channel is not None and template.channel_id != channel.pk:
                self.add_error(name, _("Choose a template of this channel."))
            elif not template.is_sendable:
                self.add_error(name, _("Choose an approved template."))
            elif "{{" in template.body_text():
                self.add_error(name, _("Choose a template without parameters."))
        if (
            data.get("away_enabled")
            and not (data.get("away_text") or "").strip()
            and not data.get("away_template")
        ):
            self.add_error("away_text", _("Write the away message, or choose a template."))
        if data.get("greeting_enabled") and not (data.get("greeting_text") or "").strip():
            self.add_error("greeting_text", _("Write the greeting."))
        return data


class IntervalForm(forms.ModelForm):
    class Meta:
        model = BusinessInterval
        fields = ["weekday", "opens", "closes"]
        help_texts = {
            "closes": _(
                "At or before the opening time: open into the next day (22:00-02:00); the same "
                "time: the whole 24 hours."
            ),
        }


class IntervalFormSet(forms.BaseInlineFormSet):
    def clean(self):
        super().clean()
        seen = set()
        for form in self.forms:
            data = getattr(form, "cleaned_data", None) or {}
            if not data or data.get("DELETE"):
                continue
            key = (data.get("weekday"), data.get("opens"), data.get("closes"))
            if key in seen:
                raise forms.ValidationError(_("The same interval is listed twice."))
            seen.add(key)


class SlaPolicyForm(forms.ModelForm):
    class Meta:
        model = SlaPolicy
        fields = [
            "channel",
            "tag",
            "first_response",
            "next_response",
            "resolution",
            "business_hours",
            "active",
        ]

    def clean(self):
        data = super().clean()
        targets = [data.get(n) for n in ("first_response", "next_response", "resolution")]
        if not any(targets):
            raise forms.ValidationError(_("Set at least one target."))
        for name in ("first_response", "next_response", "resolution"):
            value = data.get(name)
            if value is not None and value.total_seconds() < 60:
                self.add_error(name, _("A target is at least one minute."))
        return data
