"""Admin for the conversation app: Tag and Topic are managed here; conversations are read-only.

Permissions come from channels_app.access (is_admin), not from Django's per-model permissions,
and no changelist runs a query per row.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from channels_app.admin_site import AdminOnlyPermissions, AdminOnlyReadOnly
from conversations.models import Conversation, Tag, Topic


class TagForm(forms.ModelForm):
    class Meta:
        model = Tag
        fields = ["name", "color"]
        # The browser's colour picker sends "#rrggbb"; the model's validator holds the rule.
        widgets = {"color": forms.TextInput(attrs={"type": "color"})}

    def clean_color(self):
        return self.cleaned_data["color"].strip().lower()


@admin.register(Tag)
class TagAdmin(AdminOnlyPermissions, admin.ModelAdmin):
    form = TagForm
    list_display = ["name", "color"]
    search_fields = ["name"]


@admin.register(Topic)
class TopicAdmin(AdminOnlyPermissions, admin.ModelAdmin):
    list_display = ["name", "description"]
    search_fields = ["name"]


@admin.register(Conversation)
class ConversationAdmin(AdminOnlyReadOnly, admin.ModelAdmin):
    """Read-only: every change to a conversation goes through the services (and the inbox)."""

    list_display = ["id", "channel", "contact_name", "status", "assignee", "last_activity_at"]
    list_filter = ["status", "channel"]
    list_select_related = ["channel", "contact", "assignee"]
    search_fields = ["=id", "contact__profile_name", "contact__wa_id"]
    # Counting millions of rows on every page load is what makes big changelists slow.
    show_full_result_count = False
    ordering = ["-last_activity_at", "-id"]
    fields = [
        "channel", "contact_name", "status", "assignee", "tags", "topics", "opened_at",
        "last_customer_message_at", "last_activity_at", "first_response_at", "resolved_at",
        "resolution", "preview",
    ]
    readonly_fields = fields

    # The customer's own strings, each isolated in a <bdi> (docs/security.md, item 9).
    @admin.display(description=_("contact"), ordering="contact__profile_name")
    def contact_name(self, obj):
        return format_html("<bdi>{}</bdi>", obj.contact)

    @admin.display(description=_("last message"))
    def preview(self, obj):
        return format_html("<bdi>{}</bdi>", obj.last_message_preview)
