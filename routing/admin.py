"""Admin pages of routing: each channel's routing (mode, capacity, fallback team, Pending
boomerang), agents' capacity and skills, team capacities, customers' languages. Admins only
(channels_app.admin_site.AdminOnlyPermissions); the channel's mode is written through
routing.services."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from channels_app.admin_site import AdminOnlyPermissions
from routing import services
from routing.models import (
    AgentState,
    ChannelRouting,
    ContactLanguage,
    RoutingMode,
    TeamRouting,
    mode_of,
)


class ChannelRoutingForm(forms.ModelForm):
    mode = forms.ChoiceField(
        label=_("Routing"),
        choices=RoutingMode.choices,
        widget=forms.RadioSelect,
        help_text=_(
            "Push gives each New conversation to an Available agent with room; assign on "
            "reply makes whoever replies first the assignee; manual leaves it to the team."
        ),
    )

    class Meta:
        model = ChannelRouting
        fields = [
            "channel",
            "mode",
            "capacity",
            "fallback_team",
            "fallback_after",
            "pending_boomerang_after",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["channel"].disabled = True
            self.initial["mode"] = mode_of(self.instance.channel, self.instance)
        else:
            self.initial["mode"] = RoutingMode.REPLY


@admin.register(ChannelRouting)
class ChannelRoutingAdmin(AdminOnlyPermissions, admin.ModelAdmin):
    form = ChannelRoutingForm
    list_display = ("channel", "mode_label", "capacity", "fallback_team", "fallback_after",
                    "pending_boomerang_after")  # fmt: skip
    list_select_related = ("channel", "fallback_team")

    @admin.display(description=_("routing"))
    def mode_label(self, obj):
        return RoutingMode(obj.mode).label

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        saved = services.set_channel_routing(
            data.get("channel") or obj.channel,
            mode=data["mode"],
            actor=request.user,
            capacity=data["capacity"],
            fallback_team=data["fallback_team"],
            fallback_after=data["fallback_after"],
            pending_boomerang_after=data["pending_boomerang_after"],
        )
        obj.pk = saved.pk
        obj.push = saved.push


@admin.register(AgentState)
class AgentStateAdmin(AdminOnlyPermissions, admin.ModelAdmin):
    list_display = ("user", "availability", "capacity", "languages", "last_assigned_at")
    list_filter = ("availability",)
    search_fields = ("user__username", "user__first_name", "user__last_name")
    fields = ("user", "availability", "capacity", "topics", "languages", "last_assigned_at")
    readonly_fields = ("availability", "last_assigned_at")
    autocomplete_fields = ("user",)
    filter_horizontal = ("topics",)

    def get_readonly_fields(self, request, obj=None):
        return (*self.readonly_fields, "user") if obj else self.readonly_fields


@admin.register(TeamRouting)
class TeamRoutingAdmin(AdminOnlyPermissions, admin.ModelAdmin):
    list_display = ("team", "capacity")


@admin.register(ContactLanguage)
class ContactLanguageAdmin(AdminOnlyPermissions, admin.ModelAdmin):
    list_display = ("contact", "language")
    search_fields = ("contact__profile_name", "contact__wa_id", "language")
    raw_id_fields = ("contact",)
