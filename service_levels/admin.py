"""The admin pages of business hours, holidays, auto-responders, SLA policies and surveys (desk
admins only, through AdminOnlyPermissions). Validation lives in service_levels.forms."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from channels_app.admin_site import AdminOnlyPermissions
from service_levels import forms
from service_levels.models import (
    BusinessInterval,
    CsatSurvey,
    Holiday,
    HolidaySet,
    ServiceSettings,
    SlaPolicy,
)


class HolidayInline(AdminOnlyPermissions, admin.TabularInline):
    model = Holiday
    extra = 1


@admin.register(HolidaySet)
class HolidaySetAdmin(AdminOnlyPermissions, admin.ModelAdmin):
    list_display = ["name", "for_onboarding", "holiday_count"]
    inlines = [HolidayInline]

    @admin.display(description=_("holidays"))
    def holiday_count(self, obj):
        return obj.holidays.count()


class IntervalInline(AdminOnlyPermissions, admin.TabularInline):
    model = BusinessInterval
    form = forms.IntervalForm
    formset = forms.IntervalFormSet
    extra = 1


@admin.register(ServiceSettings)
class ServiceSettingsAdmin(AdminOnlyPermissions, admin.ModelAdmin):
    form = forms.ServiceSettingsForm
    list_display = [
        "channel",
        "hours_enabled",
        "time_zone",
        "away_enabled",
        "greeting_enabled",
        "csat_enabled",
    ]
    list_select_related = ["channel"]
    inlines = [IntervalInline]
    fieldsets = [
        (None, {"fields": ["channel"]}),
        (_("Business hours"), {"fields": ["hours_enabled", "time_zone", "holiday_sets"]}),
        (
            _("Auto-responders"),
            {
                "fields": [
                    "away_enabled",
                    "away_text",
                    "away_template",
                    "greeting_enabled",
                    "greeting_text",
                ]
            },
        ),
        (
            _("Satisfaction survey (CSAT)"),
            {
                "fields": [
                    "csat_enabled",
                    "csat_sample_percent",
                    "csat_delay",
                    "csat_question",
                    "csat_template",
                    "csat_comment_question",
                ]
            },
        ),
    ]


@admin.register(SlaPolicy)
class SlaPolicyAdmin(AdminOnlyPermissions, admin.ModelAdmin):
    form = forms.SlaPolicyForm
    list_display = [
        "channel",
        "tag",
        "first_response",
        "next_response",
        "resolution",
        "business_hours",
        "active",
    ]
    list_filter = ["channel", "active", "business_hours"]
    list_select_related = ["channel", "tag"]


@admin.register(CsatSurvey)
class CsatSurveyAdmin(AdminOnlyPermissions, admin.ModelAdmin):
    list_display = [
        "conversation",
        "channel",
        "agent",
        "state",
        "score",
        "resolved_at",
        "answered_at",
    ]
    list_filter = ["state", "channel", "score"]
    list_select_related = ["channel", "agent", "conversation__contact"]
    readonly_fields = [f.name for f in CsatSurvey._meta.fields]

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False
