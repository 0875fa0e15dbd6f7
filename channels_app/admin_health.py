"""The channel health panel and alert log of the admin (desk admins only).

``ChannelHealthAdmin``'s list is the health panel: every channel with its quality rating,
messaging limit, account status and token, worst first, and the latest alerts; the channel's own
admin page shows the same card (``health_card``). ``HealthEventAdmin`` is the alert log (mark as
seen). ``alerts_json`` feeds the banner every admin page polls (templates/admin/base_site.html).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.exceptions import DisallowedModelAdminLookup
from django.http import JsonResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from channels_app import access
from channels_app.admin_site import (
    AdminOnlyPermissions,
    AdminOnlyReadOnly,
    lookup_touches_secret,
)
from channels_app.health_models import ChannelHealth, HealthEvent
from channels_app.models import Channel

# The banner lists warnings and critical alerts not marked as seen, of this many hours.
BANNER_HOURS = 72
BANNER_LIMIT = 5


def health_card(channel: Channel) -> str:
    """The health summary of one channel, as the channel's admin page shows it."""
    state = ChannelHealth.objects.filter(channel=channel).first()
    events = HealthEvent.objects.filter(channel=channel)[:5]
    return render_to_string(
        "admin/channels_app/_health_card.html", {"state": state, "events": events}
    )


def unseen_alerts():
    since = timezone.now() - timezone.timedelta(hours=BANNER_HOURS)
    return HealthEvent.objects.filter(
        created_at__gte=since,
        acknowledged_at__isnull=True,
        severity__gte=HealthEvent.Severity.WARNING,
    ).select_related("channel")


class HealthRow:
    """One channel of the panel: its state (or none yet) and how bad it is."""

    def __init__(self, channel: Channel):
        self.channel = channel
        self.state = getattr(channel, "health", None)
        self.problems = self.state.problems() if self.state else []
        self.badness = (
            (2 if self.state.token_failed_at or self.state.account_status else 0)
            + (1 if self.state.quality_rating in ("RED", "YELLOW") else 0)
            if self.state else 0
        )  # fmt: skip


@admin.register(ChannelHealth)
class ChannelHealthAdmin(AdminOnlyReadOnly, admin.ModelAdmin):
    """The health panel (its changelist) of every channel."""

    def get_urls(self):
        return [
            path("alerts.json", self.admin_site.admin_view(self.alerts_json),
                 name="channels_app_channelhealth_alerts"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            return super().changelist_view(request, extra_context)
        # The panel takes no filters, but a lookup on a secret field is refused with the same 400
        # as on every other changelist (SecretLookupsRefused), not ignored: an ignored one still
        # answers, and tests/security/test_secret_lookups.py asks every admin for the 400.
        for key in request.GET:
            if lookup_touches_secret(self.model, key):
                raise DisallowedModelAdminLookup(f"Filtering by {key} not allowed")
        channels = Channel.objects.select_related("health").order_by("display_name", "id")
        rows = sorted((HealthRow(c) for c in channels), key=lambda r: -r.badness)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Channel health"),
            "opts": self.model._meta,
            "rows": rows,
            "events": HealthEvent.objects.select_related("channel")[:30],
            "events_url": "admin:channels_app_healthevent_changelist",
        }
        return TemplateResponse(request, "admin/channels_app/health_panel.html", context)

    def alerts_json(self, request):
        """The banner's alerts (admins only; others get an empty list, not an error)."""
        if not access.is_admin(request.user):
            return JsonResponse({"alerts": []})
        alerts = [
            {"id": e.pk, "channel": e.channel.display_name, "summary": e.describe(),
             "severity": e.severity, "at": e.created_at.isoformat()}
            for e in unseen_alerts()[:BANNER_LIMIT]
        ]  # fmt: skip
        return JsonResponse({"alerts": alerts})


@admin.register(HealthEvent)
class HealthEventAdmin(AdminOnlyPermissions, admin.ModelAdmin):
    """The alert log: what WhatsApp said about each channel, and when."""

    list_display = ("created_at", "channel", "kind", "severity", "what", "acknowledged_at")
    list_filter = ("severity", "kind", "channel", ("acknowledged_at", admin.EmptyFieldListFilter))
    search_fields = ("summary",)
    list_select_related = ("channel",)
    readonly_fields = ("channel", "kind", "severity", "summary", "data", "created_at",
                       "acknowledged_at", "acknowledged_by")  # fmt: skip
    actions = ("mark_seen",)

    @admin.display(description=_("what happened"))
    def what(self, event: HealthEvent) -> str:
        return event.describe()

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return access.is_admin(request.user) and obj is None  # the list's action only

    def has_delete_permission(self, request, obj=None):
        return False  # the log is kept; "mark as seen" takes an alert off the banner

    @admin.action(description=_("Mark as seen (removes them from the banner)"))
    def mark_seen(self, request, queryset):
        count = queryset.filter(acknowledged_at__isnull=True).update(
            acknowledged_at=timezone.now(), acknowledged_by=request.user
        )
        messages.success(request, ngettext(
            "%(count)d alert marked as seen.", "%(count)d alerts marked as seen.", count
        ) % {"count": count})  # fmt: skip
