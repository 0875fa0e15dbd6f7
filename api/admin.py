"""API tokens and webhook subscriptions in the admin, for desk admins only.

A token's secret is shown once, on the page that answers its creation (rendered directly, never
stored in a message or the session); afterwards only its first characters are visible. Every
save goes through api.tokens.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.template.response import TemplateResponse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from api import tokens
from api.models import ApiToken, WebhookDelivery, WebhookSubscription
from channels_app.admin_site import AdminOnlyPermissions, AdminOnlyReadOnly


class ApiTokenForm(forms.ModelForm):
    revoke = forms.BooleanField(
        label=_("Revoke this token"),
        required=False,
        help_text=_("The integration's requests are refused from the moment you save."),
    )

    class Meta:
        model = ApiToken
        fields = ("name", "channels")


class WebhookInline(AdminOnlyPermissions, admin.TabularInline):
    model = WebhookSubscription
    fields = ("url", "events", "is_active", "created_at")
    # The URL can be corrected here (checked like the API's: https, public host; api.egress).
    readonly_fields = ("events", "created_at")
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    extra = 0
    can_delete = True

    def has_add_permission(self, request, obj=None):
        return False  # created through the API, which shows the signing secret once


@admin.register(ApiToken)
class ApiTokenAdmin(AdminOnlyPermissions, admin.ModelAdmin):
    form = ApiTokenForm
    list_display = ("name", "prefix", "channel_names", "created_at", "last_used_at", "state")
    list_filter = (("revoked_at", admin.EmptyFieldListFilter),)
    search_fields = ("name", "prefix")
    filter_horizontal = ("channels",)
    readonly_fields = ("prefix", "created_by", "created_at", "last_used_at", "revoked_at")
    inlines = (WebhookInline,)
    actions = ("revoke_tokens",)

    class Media:
        css = {"all": ["desk/admin.css"]}

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("channels")

    def has_delete_permission(self, request, obj=None):
        return False  # revoked, never deleted: the token's record and audit trail stay

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("name", "channels")
        fields = ["name", "channels", "prefix", "created_by", "created_at", "last_used_at"]
        fields += ["revoked_at"] if obj.revoked_at else ["revoke"]
        return fields

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else ()

    @admin.display(description=_("channels"))
    def channel_names(self, obj):
        return ", ".join(c.display_name for c in obj.channels.all()) or "—"

    @admin.display(description=_("state"), ordering="revoked_at")
    def state(self, obj):
        return gettext("revoked") if obj.revoked_at else gettext("active")

    def save_model(self, request, obj, form, change):
        if not change:
            token, raw = tokens.create_token(
                name=form.cleaned_data["name"], channels=form.cleaned_data["channels"],
                actor=request.user,
            )  # fmt: skip
            # The admin logs and answers with ``obj``: make it the saved token.
            obj.pk, obj.prefix, obj.created_at = token.pk, token.prefix, token.created_at
            obj._state.adding = False
            request._desk_new_token = raw
            return
        if "name" in form.changed_data:
            tokens.rename_token(obj, name=form.cleaned_data["name"], actor=request.user)
        if "channels" in form.changed_data:
            tokens.set_token_channels(obj, channels=form.cleaned_data["channels"],
                                      actor=request.user)  # fmt: skip
        if form.cleaned_data.get("revoke"):
            tokens.revoke_token(obj, actor=request.user)

    def save_related(self, request, form, formsets, change):
        # Channels are saved by api.tokens; only the webhook inline (deletions) is left.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def response_add(self, request, obj, post_url_continue=None):
        raw = getattr(request, "_desk_new_token", None)
        if raw is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("API token created"),
            "token": obj,
            "raw_token": raw,
            "opts": self.model._meta,
        }
        response = TemplateResponse(request, "admin/api/apitoken/created.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description=_("Revoke selected tokens"))
    def revoke_tokens(self, request, queryset):
        n = sum(tokens.revoke_token(token, actor=request.user) for token in queryset)
        self.message_user(
            request,
            ngettext("%(count)d token revoked.", "%(count)d tokens revoked.", n) % {"count": n},
            messages.SUCCESS,
        )


# Read-only: the outbox writes the deliveries and the hourly prune removes finished ones.
@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(AdminOnlyReadOnly, admin.ModelAdmin):
    list_display = ("created_at", "event_type", "subscription", "state", "attempts",
                    "last_status", "last_error", "due_at", "delivered_at")  # fmt: skip
    list_filter = ("state", "event_type")
    list_select_related = ("subscription",)
    readonly_fields = ("subscription", "event_type", "payload", "state", "due_at", "attempts",
                       "last_status", "last_error", "created_at", "delivered_at")  # fmt: skip
