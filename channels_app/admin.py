"""The admin for channels, teams, access grants and users: the article's "edit a channel" page.

Every permission comes from channels_app.access (Cap.CONFIGURE is admin-only, so non-admin staff
get 403 everywhere here); every save goes through channels_app.services, which validates and
enforces the grant constraints; the admin still writes its usual LogEntry for each change.
Changelists annotate what they show, so no column runs a query per row. See docs/access.md.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from channels_app import access, admin_health, services
from channels_app.access import Cap, Role
from channels_app.admin_forms import (
    ChannelForm,
    DeskUserChangeForm,
    GrantForm,
    GrantFormSet,
    ProfileForm,
    TeamForm,
    TeamGrantForm,
    describe_duration,
)
from channels_app.admin_site import AdminOnlyPermissions
from channels_app.models import AccessGrant, Channel, Profile, Team

User = get_user_model()

MEDIA = {"css": {"all": ["desk/admin.css"]}}


def _grant_count(**who):
    """Per-channel count of grants as a correlated subquery (no join fan-out, no GROUP BY)."""
    counted = (
        AccessGrant.objects.filter(channel=OuterRef("pk"), **who)
        .order_by()
        .values("channel")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def access_summary_text(channel: Channel) -> str:
    """"3 users, 1 team, All Users: Viewer" from a channel annotated by ChannelAdmin."""
    parts = []
    users = getattr(channel, "user_grant_count", 0)
    teams = getattr(channel, "team_grant_count", 0)
    if users:
        parts.append(ngettext("%(count)d user", "%(count)d users", users) % {"count": users})
    if teams:
        parts.append(ngettext("%(count)d team", "%(count)d teams", teams) % {"count": teams})
    if channel.all_users_enabled:
        parts.append(
            gettext("All Users: %(role)s") % {"role": Role(channel.all_users_role).label}
        )
    if channel.all_teams_enabled:
        parts.append(
            gettext("All Teams: %(role)s") % {"role": Role(channel.all_teams_role).label}
        )
    return ", ".join(parts) if parts else gettext("admins only")


class ConfigurePermissions(AdminOnlyPermissions):
    """Channel pages are for admins: view, add, change and delete all need Cap.CONFIGURE."""

    def _configure(self, request, obj):
        if obj is None or not isinstance(obj, Channel):
            return access.is_admin(request.user)
        return access.can(request.user, Cap.CONFIGURE, obj)

    def has_view_permission(self, request, obj=None):
        return self._configure(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._configure(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._configure(request, obj)

    def has_configure_permission(self, request):
        return access.is_admin(request.user)


# --- channels ------------------------------------------------------------------------------------
class _GrantInline(ConfigurePermissions, admin.TabularInline):
    model = AccessGrant
    formset = GrantFormSet
    extra = 0
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return self._configure(request, obj)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related(self.form.who)


class UserGrantInline(_GrantInline):
    form = GrantForm
    fields = ("user", "role")
    autocomplete_fields = ("user",)
    verbose_name = _("user access")
    verbose_name_plural = _("Channel access: users")

    def get_queryset(self, request):
        return super().get_queryset(request).filter(user__isnull=False)


class TeamGrantInline(_GrantInline):
    form = TeamGrantForm
    fields = ("team", "role")
    autocomplete_fields = ("team",)
    verbose_name = _("team access")
    verbose_name_plural = _("Team access: a team's members get the team's role")

    def get_queryset(self, request):
        return super().get_queryset(request).filter(team__isnull=False)


ROLES_HELP = _(
    "Viewer: sees the channel, moves conversations to Pending or Resolved, adds tags, notes and "
    "topics, but cannot reply. Contributor: also replies to customers. Supervisor: also sees "
    "the channel's reports. A user's effective role is the highest of every route below."
)


@admin.register(Channel)
class ChannelAdmin(ConfigurePermissions, admin.ModelAdmin):
    form = ChannelForm
    list_display = (
        "display_name",
        "kind",
        "number",
        "is_active",
        "auto_assign",
        "auto_resolve",
        "access_summary",
    )
    list_filter = ("kind", "is_active", "auto_assign", "all_users_enabled", "all_teams_enabled")
    search_fields = ("display_name", "display_phone_number", "verified_name", "phone_number_id")
    ordering = ("display_name", "id")
    actions = ("activate_channels", "deactivate_channels")
    inlines = (TeamGrantInline, UserGrantInline)
    readonly_fields = (
        "phone_number_id",
        "waba_id",
        "display_phone_number",
        "verified_name",
        "access_token_state",
        "health_summary",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (
            None,
            {
                "fields": ("display_name", "kind", "is_active"),
                "description": _(
                    "The custom display name (up to 255 characters) is what every user sees in "
                    "the channel picker of the conversation views. An inactive channel receives "
                    "no messages and leaves the inbox; its history stays."
                ),
            },
        ),
        (
            _("Assignment and auto-resolve"),
            {
                "fields": (
                    "auto_assign",
                    "read_receipts",
                    "auto_resolve_new_after",
                    "auto_resolve_pending_after",
                ),
                "description": _(
                    "Whatever these say, a conversation set to Resolved loses its assignee. "
                    "Auto-resolve counts from a conversation's last activity: a message in or "
                    "out, or a status change."
                ),
            },
        ),
        (
            _("Channel access"),
            {
                "fields": (
                    ("all_users_enabled", "all_users_role"),
                    ("all_teams_enabled", "all_teams_role"),
                ),
                "description": ROLES_HELP,
            },
        ),
        (
            _("WhatsApp account"),
            {
                "fields": (
                    "phone_number_id",
                    "waba_id",
                    "display_phone_number",
                    "verified_name",
                    "access_token_state",
                    "new_access_token",
                ),
                "description": _(
                    "Set by onboarding from Meta's records; shown for reference. Only the access "
                    "token can be replaced here."
                ),
            },
        ),
        (_("Health"), {"fields": ("health_summary",)}),  # channels_app.admin_health
        (_("History"), {"fields": ("created_at", "updated_at"), "classes": ("collapse",)}),
    )
    # Creating a channel by hand is rare (onboarding creates them), so the add page asks only
    # for what identifies it; the settings start at their defaults and are edited afterwards.
    add_fieldsets = (
        (
            None,
            {
                "fields": ("display_name", "kind"),
                "description": _(
                    "Channels are normally created by completing a WhatsApp onboarding. Add one "
                    "by hand only for a number that is already connected."
                ),
            },
        ),
        (
            _("WhatsApp account"),
            {
                "fields": (
                    "phone_number_id",
                    "waba_id",
                    "display_phone_number",
                    "verified_name",
                    "new_access_token",
                )
            },
        ),
    )

    class Media:
        css = MEDIA["css"]

    def get_queryset(self, request):
        return access.channels_visible_to(request.user).annotate(
            user_grant_count=_grant_count(user__isnull=False),
            team_grant_count=_grant_count(team__isnull=False),
        )

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return (*self.readonly_fields, "kind")

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else ()

    # --- columns ---------------------------------------------------------------------------------
    # Short headers: the changelist shares the width with the filter and navigation sidebars.
    @admin.display(description=_("number"), ordering="display_phone_number")
    def number(self, obj):
        return obj.display_phone_number or "—"

    @admin.display(description=_("auto-resolve"))
    def auto_resolve(self, obj):
        return format_html(
            '<span class="desk-resolve">{} {}<br>{} {}</span>',
            gettext("New:"),
            self.auto_resolve_new(obj),
            gettext("Pending:"),
            self.auto_resolve_pending(obj),
        )

    @admin.display(description=_("auto-resolve New"), ordering="auto_resolve_new_after")
    def auto_resolve_new(self, obj):
        return describe_duration(obj.auto_resolve_new_after)

    @admin.display(description=_("auto-resolve Pending"), ordering="auto_resolve_pending_after")
    def auto_resolve_pending(self, obj):
        return describe_duration(obj.auto_resolve_pending_after)

    @admin.display(description=_("access"))
    def access_summary(self, obj):
        return format_html('<span class="desk-access-summary">{}</span>', access_summary_text(obj))

    @admin.display(description=_("stored access token"))
    def access_token_state(self, obj):
        # Only whether one is stored, and never its value (not even a prefix).
        if obj.access_token:
            return format_html('<span class="desk-token-state">{}</span>', gettext("•••••• set"))
        return gettext("not set")

    @admin.display(description=_("health"))
    def health_summary(self, obj):
        return admin_health.health_card(obj) if obj.pk else ""

    # --- saving: through the services ------------------------------------------------------------
    def save_model(self, request, obj, form, change):
        token = form.cleaned_data.get("new_access_token") or None
        if not change:
            if token is not None:
                obj.access_token = token
            services.create_channel(obj, actor=request.user)
            return
        changes = {
            name: form.cleaned_data[name]
            for name in form.changed_data
            if name in services.SETTINGS_FIELDS
        }
        services.update_channel_settings(obj, actor=request.user, access_token=token, **changes)

    def save_formset(self, request, form, formset, change):
        if formset.model is not AccessGrant:
            return super().save_formset(request, form, formset, change)
        formset.save(commit=False)
        channel = form.instance
        for grant in formset.deleted_objects:
            services.revoke_grant(grant, actor=request.user)
        for grant, changed in formset.changed_objects:
            services.update_grant(
                grant, actor=request.user, **{name: getattr(grant, name) for name in changed}
            )
        # Swap in the saved rows so the admin's change message names real objects.
        formset.new_objects = [
            services.grant_access(
                channel, actor=request.user, role=grant.role, user=grant.user, team=grant.team
            )
            for grant in formset.new_objects
        ]
        return None

    # --- actions ---------------------------------------------------------------------------------
    def _set_active(self, request, queryset, active: bool) -> int:
        changed = 0
        for channel in queryset:
            if channel.is_active != active:
                services.update_channel_settings(channel, actor=request.user, is_active=active)
                self.log_change(request, channel, [{"changed": {"fields": ["is_active"]}}])
                changed += 1
        return changed

    @admin.action(description=_("Activate selected channels"), permissions=["configure"])
    def activate_channels(self, request, queryset):
        n = self._set_active(request, queryset, True)
        self.message_user(
            request,
            ngettext("%(count)d channel activated.", "%(count)d channels activated.", n)
            % {"count": n},
            messages.SUCCESS,
        )

    @admin.action(description=_("Deactivate selected channels"), permissions=["configure"])
    def deactivate_channels(self, request, queryset):
        n = self._set_active(request, queryset, False)
        self.message_user(
            request,
            ngettext("%(count)d channel deactivated.", "%(count)d channels deactivated.", n)
            % {"count": n},
            messages.SUCCESS,
        )


# --- teams ---------------------------------------------------------------------------------------
@admin.register(Team)
class TeamAdmin(ConfigurePermissions, admin.ModelAdmin):
    form = TeamForm
    list_display = ("name", "member_count", "channel_count")
    search_fields = ("name",)
    filter_horizontal = ("members",)
    readonly_fields = ("channel_access", "created_at")
    fields = ("name", "members", "channel_access", "created_at")

    class Media:
        css = MEDIA["css"]

    def get_queryset(self, request):
        members = Team.members.through.objects.filter(team=OuterRef("pk"))
        return (
            super()
            .get_queryset(request)
            .annotate(
                member_total=Coalesce(
                    Subquery(
                        members.order_by().values("team").annotate(n=Count("pk")).values("n"),
                        output_field=IntegerField(),
                    ),
                    0,
                ),
                channel_total=Coalesce(
                    Subquery(
                        AccessGrant.objects.filter(team=OuterRef("pk"))
                        .order_by()
                        .values("team")
                        .annotate(n=Count("pk"))
                        .values("n"),
                        output_field=IntegerField(),
                    ),
                    0,
                ),
            )
        )

    @admin.display(description=_("members"), ordering="member_total")
    def member_count(self, obj):
        return obj.member_total

    @admin.display(description=_("channels"), ordering="channel_total")
    def channel_count(self, obj):
        return obj.channel_total

    @admin.display(description=_("channel access"))
    def channel_access(self, obj):
        if obj.pk is None:
            return "—"
        grants = obj.channel_grants.select_related("channel").order_by("channel__display_name")
        if not grants:
            return gettext("This team has no grant on any channel.")
        return format_html(
            '<table class="desk-roles">{}</table>',
            format_html_join(
                "",
                '<tr><td><a href="{}">{}</a></td><td>{}</td></tr>',
                (
                    (
                        reverse("admin:channels_app_channel_change", args=[g.channel_id]),
                        g.channel.display_name,
                        g.get_role_display(),
                    )
                    for g in grants
                ),
            ),
        )

    def save_model(self, request, obj, form, change):
        services.save_team(obj, actor=request.user)

    def save_related(self, request, form, formsets, change):
        # Members through the service instead of form.save_m2m(); Team has no other m2m.
        services.set_team_members(
            form.instance, actor=request.user, members=form.cleaned_data["members"]
        )
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)


# --- users ---------------------------------------------------------------------------------------
class ProfileInline(admin.StackedInline):
    model = Profile
    form = ProfileForm
    can_delete = False
    extra = 0
    max_num = 1
    min_num = 1
    verbose_name = _("preferences")
    verbose_name_plural = _("preferences")

    # The profile belongs to the user: whoever may change the user may change it.
    def _user_admin(self):
        return self.admin_site._registry[User]

    def has_view_permission(self, request, obj=None):
        return self._user_admin().has_view_permission(request, obj)

    def has_add_permission(self, request, obj=None):
        return self._user_admin().has_change_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._user_admin().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False


admin.site.unregister(User)


@admin.register(User)
class DeskUserAdmin(UserAdmin):
    """Django's user admin plus the desk: teams (editable) and effective channel roles."""

    form = DeskUserChangeForm
    inlines = (ProfileInline,)
    list_display = ("username", "first_name", "last_name", "email", "is_staff", "team_names")
    list_filter = (*UserAdmin.list_filter, "desk_teams")
    readonly_fields = ("channel_roles",)
    # The desk's section goes right after the name: it is what channel admins come here for.
    fieldsets = (
        *UserAdmin.fieldsets[:2],
        (
            _("Messaging desk"),
            {
                "fields": ("teams", "channel_roles"),
                "description": _(
                    "A user's role on a channel is the highest of their own grant, their teams' "
                    "grants and the channel's All Users / All Teams switches."
                ),
            },
        ),
        *UserAdmin.fieldsets[2:],
    )

    class Media:
        css = MEDIA["css"]

    def has_view_permission(self, request, obj=None):
        # Channel admins pick users for grants (the autocomplete) and read their roles; changing
        # accounts (passwords, superuser flags) stays with Django's own user permissions.
        return access.is_admin(request.user) or super().has_view_permission(request, obj)

    def has_module_permission(self, request):
        return access.is_admin(request.user) or super().has_module_permission(request)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("desk_teams")

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else ()

    @admin.display(description=_("teams"))
    def team_names(self, obj):
        return ", ".join(team.name for team in obj.desk_teams.all()) or "—"

    @admin.display(description=_("effective channel roles"))
    def channel_roles(self, obj):
        if obj is None or obj.pk is None:
            return "—"
        if not obj.is_active:
            return gettext("Inactive users have no access to any channel.")
        if access.is_admin(obj):
            return gettext("Admin: every channel, every capability.")
        # One query: access annotates each visible channel with the user's effective role.
        channels = access.channels_with_role(obj).only("id", "display_name")
        rows = [
            (
                reverse("admin:channels_app_channel_change", args=[channel.pk]),
                channel.display_name,
                Role(channel.effective_role).label,
            )
            for channel in channels.order_by("display_name", "id")
        ]
        if not rows:
            return gettext("No access to any channel.")
        return format_html(
            '<table class="desk-roles">{}</table>',
            format_html_join("", '<tr><td><a href="{}">{}</a></td><td>{}</td></tr>', rows),
        )

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if "teams" in form.changed_data:
            # Team membership is access: the service refuses (403) anyone but a channel admin.
            services.set_user_teams(
                form.instance, actor=request.user, teams=form.cleaned_data["teams"]
            )


from channels_app import admin_templates  # noqa: E402, F401  (MessageTemplate admin lives there)
