"""Admin pages of automations and opt-outs (desk admins only: AdminOnlyPermissions).

Rules are edited here (AutomationRuleForm checks them); opt-outs are read here and changed only
through automations.optout (a customer's word, WhatsApp's report, or an agent with a note on the
conversation page), so their history is never edited by hand.
"""

from __future__ import annotations

from django.contrib import admin
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from automations import optout
from automations.forms import AutomationRuleForm
from automations.models import AutomationRule, MarketingOptOut, OptOutChange, OptOutWord
from channels_app.admin_site import AdminOnlyPermissions, AdminOnlyReadOnly


@admin.register(AutomationRule)
class AutomationRuleAdmin(AdminOnlyPermissions, admin.ModelAdmin):
    form = AutomationRuleForm
    list_display = ("name", "channel", "position", "is_active", "condition_list", "action_list")
    list_display_links = ("name",)
    list_editable = ("position", "is_active")
    list_filter = ("channel", "is_active")
    search_fields = ("name", "text_contains", "text_pattern", "button_payload")
    list_select_related = ("channel", "add_tag", "add_topic", "route_to_team",
                           "send_saved_reply", "send_template")  # fmt: skip
    ordering = ("channel", "position", "id")
    readonly_fields = ("created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("channel", "name", "position", "is_active", "stop_processing")}),
        (_("When a customer's message…"), {
            "fields": ("text_contains", "text_pattern", "button_payload", "message_type",
                       "business_hours", "conversation_is"),
            "description": _("Every condition that is filled in must hold; empty ones match "
                             "any message."),
        }),
        (_("…then"), {
            "fields": ("add_tag", "add_topic", "route_to_team", "set_priority",
                       "send_saved_reply", "send_template", "template_params", "resolve"),
            "description": _("The actions run in this order, as the system; each firing is "
                             "written in the conversation's history with the rule's name."),
        }),
        (_("Record"), {"fields": ("created_at", "updated_at")}),
    )  # fmt: skip

    @admin.display(description=_("conditions"))
    def condition_list(self, rule: AutomationRule) -> str:
        parts = []
        if rule.text_contains:
            parts.append(_("text contains “%(w)s”") % {"w": rule.text_contains})
        if rule.text_pattern:
            parts.append(_("matches /%(p)s/") % {"p": rule.text_pattern})
        if rule.button_payload:
            parts.append(_("button “%(p)s”") % {"p": rule.button_payload})
        if rule.message_type:
            parts.append(str(rule.get_message_type_display()))
        if rule.business_hours:
            parts.append(str(rule.get_business_hours_display()))
        if rule.conversation_is:
            parts.append(str(rule.get_conversation_is_display()))
        return "; ".join(str(p) for p in parts) or str(_("every message"))

    @admin.display(description=_("actions"))
    def action_list(self, rule: AutomationRule) -> str:
        parts = []
        if rule.add_tag_id:
            parts.append(_("tag %(t)s") % {"t": rule.add_tag})
        if rule.add_topic_id:
            parts.append(_("topic %(t)s") % {"t": rule.add_topic})
        if rule.set_priority is not None:
            parts.append(_("priority %(p)s") % {"p": rule.get_set_priority_display()})
        if rule.route_to_team_id:
            parts.append(_("route to %(t)s") % {"t": rule.route_to_team})
        if rule.send_saved_reply_id:
            parts.append(_("reply “%(r)s”") % {"r": rule.send_saved_reply})
        if rule.send_template_id:
            parts.append(_("template %(t)s") % {"t": rule.send_template})
        if rule.resolve:
            parts.append(_("resolve"))
        return "; ".join(str(p) for p in parts)


@admin.register(OptOutWord)
class OptOutWordAdmin(AdminOnlyPermissions, admin.ModelAdmin):
    list_display = ("word", "kind", "language")
    list_filter = ("kind", "language")
    search_fields = ("word",)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        optout.forget_words()

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        optout.forget_words()


# Read-only: the page shows the history; changes go through automations.optout.
@admin.register(MarketingOptOut)
class MarketingOptOutAdmin(AdminOnlyReadOnly, admin.ModelAdmin):
    list_display = ("contact", "opted_out", "source", "changed_at")
    list_filter = ("opted_out", "source")
    search_fields = ("contact__profile_name", "contact__wa_id", "contact__phone")
    list_select_related = ("contact",)
    readonly_fields = ("contact", "opted_out", "source", "changed_at", "history")

    @admin.display(description=_("history"))
    def history(self, state: MarketingOptOut) -> str:
        changes = OptOutChange.objects.filter(contact_id=state.contact_id).select_related(
            "actor", "channel"
        )
        rows = [
            (date_format(timezone.localtime(c.created_at), "DATETIME_FORMAT"),
             _("opted out") if c.opted_out else _("opted in"), c.get_source_display(),
             c.actor or "", c.channel or "", c.note or c.evidence)
            for c in changes
        ]  # fmt: skip
        return format_html(
            "<table>{}</table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                                 "<td>{}</td></tr>", rows),
        )  # fmt: skip
