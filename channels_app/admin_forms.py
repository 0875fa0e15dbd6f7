"""Forms and fields of the channel, team and user admin pages.

The auto-resolve ages are edited as "30 days" / "12 hours" / Off instead of Django's raw
"30 00:00:00" duration text; the access token is write-only; grant inlines turn the grant
constraints into form errors (the database would otherwise answer with an IntegrityError).
"""

from __future__ import annotations

import zoneinfo
from datetime import timedelta
from functools import cache

from django import forms
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.contrib.auth.forms import UserChangeForm
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.utils.functional import lazy
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from channels_app.models import DEFAULT_AUTO_RESOLVE, AccessGrant, Channel, Profile, Team

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
# Beyond a year an auto-resolve rule is "off" in all but name; a typo like 3000 days is caught.
MAX_AUTO_RESOLVE = timedelta(days=365)
UNITS = [("days", _("days")), ("hours", _("hours"))]


def describe_duration(value: timedelta | None) -> str:
    """"30 days", "12 hours", "90 minutes" or "off": how the admin shows an auto-resolve age."""
    if value is None:
        return str(_("off"))
    if value % DAY == timedelta(0):
        days = value // DAY
        return ngettext("%(count)d day", "%(count)d days", days) % {"count": days}
    if value % HOUR == timedelta(0):
        hours = value // HOUR
        return ngettext("%(count)d hour", "%(count)d hours", hours) % {"count": hours}
    minutes = round(value.total_seconds() / 60)
    return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}


class DurationWidget(forms.MultiWidget):
    """A number, a unit (days or hours) and an Off box."""

    template_name = "desk/widgets/duration.html"

    def __init__(self, attrs=None):
        widgets = {
            "amount": forms.NumberInput(
                attrs={"min": 1, "step": 1, "class": "desk-duration-amount"}
            ),
            "unit": forms.Select(choices=UNITS),
            "off": forms.CheckboxInput(),
        }
        super().__init__(widgets, attrs)

    def decompress(self, value):
        if value is None:
            return [None, "days", True]
        if value % DAY == timedelta(0):
            return [value // DAY, "days", False]
        # Sub-hour ages cannot be typed here; they show rounded up to the next whole hour.
        return [-(-value // HOUR), "hours", False]

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["widget"]["off_label"] = _("Off")
        return context


class AutoResolveField(forms.MultiValueField):
    """An auto-resolve age: a positive whole number of days or hours up to a year, or None (off).

    Ticking Off switches the rule off whatever the number says (an admin should not have to
    clear it first); so does leaving the number empty.
    """

    widget = DurationWidget

    default_error_messages = {
        "positive": _("Enter a positive number of days or hours, or tick Off."),
        "too_long": _("At most %(days)d days (%(hours)d hours)."),
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        fields = (
            forms.IntegerField(required=False),
            forms.ChoiceField(choices=UNITS, required=False),
            forms.BooleanField(required=False),
        )
        super().__init__(fields, require_all_fields=False, **kwargs)

    def clean(self, value):
        # Off wins before the number is even read: a stale or mistyped number next to a ticked
        # Off box is not an error.
        if isinstance(value, list | tuple) and len(value) == 3 and self.fields[2].clean(value[2]):
            return None
        return super().clean(value)

    def compress(self, data_list):
        if not data_list:
            return None
        amount, unit, off = data_list
        if off or amount is None:
            return None
        if amount <= 0:
            raise ValidationError(self.error_messages["positive"], code="positive")
        value = amount * (HOUR if unit == "hours" else DAY)
        if value > MAX_AUTO_RESOLVE:
            raise ValidationError(
                self.error_messages["too_long"],
                code="too_long",
                params={"days": MAX_AUTO_RESOLVE // DAY, "hours": MAX_AUTO_RESOLVE // HOUR},
            )
        return value


def _with_default(text) -> str:
    """``text`` (lazy, with ``%(default)s``) naming the model's default age in the reader's
    language, so the number is written once (``DEFAULT_AUTO_RESOLVE``)."""
    return lazy(lambda: str(text) % {"default": describe_duration(DEFAULT_AUTO_RESOLVE)}, str)()


class ChannelForm(forms.ModelForm):
    auto_resolve_new_after = AutoResolveField(
        label=_("Auto-resolve New after"),
        help_text=_with_default(
            _(
                "Conversations waiting in New longer than this (since their last activity) are "
                "resolved automatically. Default %(default)s."
            )
        ),
    )
    auto_resolve_pending_after = AutoResolveField(
        label=_("Auto-resolve Pending after"),
        help_text=_with_default(
            _(
                "Conversations waiting in Pending (for the customer) longer than this are "
                "resolved automatically. Default %(default)s."
            )
        ),
    )
    # Write-only: the stored token is never rendered back into the page.
    new_access_token = forms.CharField(
        label=_("New access token"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_(
            "The Cloud API bearer token for this number. Write-only: it is never shown again. "
            "Leave empty to keep the current one."
        ),
    )

    class Meta:
        model = Channel
        # The admin narrows this to the fields of the page it renders (add or change).
        fields = (
            "display_name", "kind", "is_active", "auto_assign", "read_receipts",
            "auto_resolve_new_after",
            "auto_resolve_pending_after", "all_users_enabled", "all_users_role",
            "all_teams_enabled", "all_teams_role", "phone_number_id", "waba_id",
            "display_phone_number", "verified_name",
        )


class GrantForm(forms.ModelForm):
    """One inline row: a user (or a team) and a role; who it names is required."""

    who = "user"

    class Meta:
        model = AccessGrant
        fields = ("user", "role")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.who in self.fields:
            self.fields[self.who].required = True


class TeamGrantForm(GrantForm):
    who = "team"

    class Meta:
        model = AccessGrant
        fields = ("team", "role")


def _constraint_message(name: str) -> str:
    constraint = next(c for c in AccessGrant._meta.constraints if c.name == name)
    return constraint.violation_error_message


class GrantFormSet(BaseInlineFormSet):
    """Catches two rows naming the same user (or team) in one submission.

    Each form checks the database on its own (the UniqueConstraint), but two *new* rows for the
    same user only collide with each other; Django's formset check skips conditional unique
    constraints, so without this the second INSERT would fail with an IntegrityError.
    """

    def clean(self):
        super().clean()
        who = self.form.who
        message = _constraint_message(
            "one_grant_per_channel_user" if who == "user" else "one_grant_per_channel_team"
        )
        seen = set()
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or self._should_delete_form(form):
                continue
            value = form.cleaned_data.get(who)
            if value is None:
                continue
            if value.pk in seen:
                form.add_error(who, message)
            seen.add(value.pk)


class TeamForm(forms.ModelForm):
    class Meta:
        model = Team
        fields = ("name", "members")


class _BoxedFilteredSelectMultiple(FilteredSelectMultiple):
    """The two-box picker in the wrapper div the admin gives its own many-to-many fields, which
    its CSS and JavaScript expect (without it the label lands beside the "chosen" box)."""

    def render(self, name, value, attrs=None, renderer=None):
        return format_html(
            '<div class="related-widget-wrapper">{}</div>',
            super().render(name, value, attrs, renderer),
        )


class DeskUserChangeForm(UserChangeForm):
    """Django's user form plus the user's teams (a reverse many-to-many, so declared here)."""

    teams = forms.ModelMultipleChoiceField(
        label=_("Teams"),
        queryset=Team.objects.all(),
        required=False,
        widget=_BoxedFilteredSelectMultiple(_("teams"), is_stacked=False),
        help_text=_("The user gets the access each of these teams has on a channel."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["teams"].initial = list(self.instance.desk_teams.all())


@cache
def _time_zone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


class ProfileForm(forms.ModelForm):
    time_zone = forms.ChoiceField(
        label=_("Time zone"),
        choices=_time_zone_choices,
        initial="UTC",
        help_text=_("Reports and timestamps are shown in this zone."),
    )

    class Meta:
        model = Profile
        fields = ("time_zone",)
