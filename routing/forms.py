"""Routing's forms: the top bar's availability switch and the snooze menu."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from routing.models import Availability


class AvailabilityForm(forms.Form):
    availability = forms.ChoiceField(label=_("Availability"), choices=Availability.choices)


class SnoozeForm(forms.Form):
    """The snooze menu: a preset, or a custom time (in the agent's own time zone)."""

    CHOICES = [
        ("15m", _("15 minutes")),
        ("1h", _("1 hour")),
        ("4h", _("4 hours")),
        ("tomorrow", _("Tomorrow 9:00")),
        ("custom", _("Custom time")),
    ]
    choice = forms.ChoiceField(label=_("Snooze for"), choices=CHOICES)
    until = forms.DateTimeField(
        label=_("Until"),
        required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )

    def clean(self):
        data = super().clean()
        if data.get("choice") == "custom" and not data.get("until"):
            self.add_error("until", _("Choose the time to snooze until."))
        return data
