"""The reports page's filters, read from the query string. Field names are the URL contract."""

from __future__ import annotations

from datetime import date, timedelta, tzinfo

from django import forms
from django.utils.translation import gettext_lazy as _

from reports.figures import MAX_DAYS, Period

TODAY, LAST_7, LAST_30, CUSTOM = "today", "7d", "30d", "custom"
PRESET_DAYS = {TODAY: 1, LAST_7: 7, LAST_30: 30}
DEFAULT_RANGE = LAST_7
# Far outside any real data, and keeps midnight in any zone inside datetime's range.
EARLIEST = date(2000, 1, 1)
LATEST = date(2999, 12, 31)


class ReportFilterForm(forms.Form):
    """Range preset (or custom dates) and channel; ``cleaned_data["period"]`` is the result.

    The channel choice is only offered here: the view checks access to a requested channel
    (404/403) through channels_app.access before this form sees it.
    """

    range = forms.ChoiceField(
        label=_("Period"),
        required=False,
        choices=[
            (TODAY, _("Today")),
            (LAST_7, _("Last 7 days")),
            (LAST_30, _("Last 30 days")),
            (CUSTOM, _("Custom dates")),
        ],
    )
    channel = forms.TypedChoiceField(label=_("Channel"), coerce=int, required=False, choices=())

    def __init__(self, data, *, channels, today: date, tz: tzinfo):
        if not data.get("range"):
            # No period asked for means DEFAULT_RANGE; the select must say so rather than show
            # its first option ("Today") over a report of the last 7 days.
            data = data.copy()
            data["range"] = DEFAULT_RANGE
        super().__init__(data)
        self.today, self.tz = today, tz
        self.channels = {c.pk: c for c in channels}
        self.fields["channel"].choices = [("", _("All my channels"))] + [
            (c.pk, c.display_name) for c in channels
        ]
        # "from" is a Python keyword, so these two are added by name.
        date_widget = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
        self.fields["from"] = forms.DateField(label=_("From"), required=False, widget=date_widget)
        self.fields["to"] = forms.DateField(label=_("To"), required=False, widget=date_widget)
        self.order_fields(["range", "from", "to", "channel"])

    def clean_channel(self):
        pk = self.cleaned_data.get("channel")
        return self.channels.get(pk) if pk not in (None, "") else None

    def clean(self):
        cleaned = super().clean()
        preset = cleaned.get("range") or DEFAULT_RANGE
        cleaned["range"] = preset
        if preset != CUSTOM:
            last = self.today
            first = last - timedelta(days=PRESET_DAYS[preset] - 1)
            cleaned["period"] = Period(first=first, last=last, tz=self.tz)
            return cleaned
        first, last = cleaned.get("from"), cleaned.get("to")
        if "from" in self.errors or "to" in self.errors:
            return cleaned
        if first is None or last is None:
            raise forms.ValidationError(_("Custom dates need both a first and a last day."))
        for day in (first, last):
            if not EARLIEST <= day <= LATEST:
                raise forms.ValidationError(
                    _("Dates must lie between %(earliest)s and %(latest)s.")
                    % {"earliest": EARLIEST.isoformat(), "latest": LATEST.isoformat()}
                )
        if first > last:
            raise forms.ValidationError(_("The first day must not be after the last day."))
        if (last - first).days + 1 > MAX_DAYS:
            raise forms.ValidationError(
                _("A report covers at most %(days)d days.") % {"days": MAX_DAYS}
            )
        cleaned["period"] = Period(first=first, last=last, tz=self.tz)
        return cleaned
