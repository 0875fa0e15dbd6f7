"""Routing's forms: the top bar's availability switch and the snooze menu."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from routing.models import Availability


class AvailabilityForm(forms.Form):
    availability = forms.ChoiceField(label=_("Availability"), choices=Availability.choices)
