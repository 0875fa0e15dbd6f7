"""Admin for WhatsApp message templates: browse the synced ones, write drafts, submit for review.

Drafts are written part by part (header, body, footer, buttons, example values: see
channels_app/template_forms.py), never as raw JSON; synced fields are read-only (Meta owns
them) and shown the same way. "Submit for review" is a changelist action and a button on a
draft's own page (it saves first). Every permission comes from channels_app.access.is_admin
(AdminOnlyPermissions). Provider calls run outside a transaction, so they hold no lock.
"""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from channels_app import template_services
from channels_app.admin_site import AdminOnlyPermissions
from channels_app.models import MessageTemplate
from channels_app.template_forms import TemplateDraftForm

SYNCED_FIELDS = ("provider_id", "status", "rejection_reason", "quality_score", "updated_at")
IDENTITY_FIELDS = ("channel", "name", "language", "category")
PART_FIELDS = ("header", "header_example", "body", "body_examples", "footer", "buttons")
# A synced template's parts, shown read-only.
SHOWN_PARTS = ("header_shown", "body_shown", "examples_shown", "footer_shown", "buttons_shown")
# The button on a draft's page (and the add page) that saves and submits it.
SUBMIT = "_submit_for_review"


@admin.register(MessageTemplate)
class MessageTemplateAdmin(AdminOnlyPermissions, admin.ModelAdmin):
    list_display = (
        "name",
        "language",
        "channel",
        "category",
        "status",
        "quality_score",
        "updated_at",
    )
    list_filter = ("status", "category", "language", "channel")
    search_fields = ("name", "channel__display_name")
    list_select_related = ("channel",)
    ordering = ("channel__display_name", "name", "language")
    actions = ("submit_for_review", "sync_from_whatsapp")
    form = TemplateDraftForm
    change_form_template = "admin/channels_app/messagetemplate/change_form.html"

    def has_delete_permission(self, request, obj=None):
        # Deleting at Meta is not offered; a local row would come back at the next sync.
        return super().has_delete_permission(request, obj) and (
            obj is None or obj.status == MessageTemplate.Status.DRAFT
        )

    @staticmethod
    def _is_draft(obj) -> bool:
        return obj is None or obj.status == MessageTemplate.Status.DRAFT

    def get_fields(self, request, obj=None):
        if self._is_draft(obj):
            return (*IDENTITY_FIELDS, *PART_FIELDS, *SYNCED_FIELDS)
        return (*IDENTITY_FIELDS, *SHOWN_PARTS, *SYNCED_FIELDS)

    def get_readonly_fields(self, request, obj=None):
        if self._is_draft(obj):
            return SYNCED_FIELDS
        return (*IDENTITY_FIELDS, *SHOWN_PARTS, *SYNCED_FIELDS)

    def get_changeform_initial_data(self, request):
        return {
            "language": "en_US",
            "body": "Hi {{1}}, your order {{2}} has shipped.",
            "body_examples": "Dana\n4471",
            **super().get_changeform_initial_data(request),
        }

    def save_model(self, request, obj, form, change):
        if change and not self._is_draft(obj):
            return  # every field of a synced template is read-only: nothing to save
        # The form ran validate_draft already (TemplateDraftForm), so this cannot refuse.
        template_services.save_draft(obj)

    # --- a synced template's parts, read-only ---

    def _parts(self, obj) -> dict:
        return template_services.parts_from_components(obj.components)

    @admin.display(description=_("Header"))
    def header_shown(self, obj):
        return self._parts(obj)["header"] or "–"

    @admin.display(description=_("Body"))
    def body_shown(self, obj):
        return self._parts(obj)["body"] or "–"

    @admin.display(description=_("Example values"))
    def examples_shown(self, obj):
        return ", ".join(self._parts(obj)["body_examples"]) or "–"

    @admin.display(description=_("Footer"))
    def footer_shown(self, obj):
        return self._parts(obj)["footer"] or "–"

    @admin.display(description=_("Buttons"))
    def buttons_shown(self, obj):
        buttons = self._parts(obj)["buttons"]
        if not buttons:
            return "–"
        return format_html_join(
            "",
            "<div>{}: {} {}</div>",
            (
                (
                    b.get("type", ""),
                    b.get("text", ""),
                    b.get("url") or b.get("phone_number") or "",
                )
                for b in buttons
            ),
        )

    # --- "Submit for review" on the template's own page ---

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "submit_name": SUBMIT}
        if request.method == "POST" and SUBMIT in request.POST:
            # Saving and submitting: the provider call must not run inside the admin's
            # transaction (it would hold the row's lock for the call). The save has its own
            # (save_draft), then response_add/response_change submit.
            return self._changeform_view(request, object_id, form_url, extra_context)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def _submit_and_report(self, request, obj) -> bool:
        try:
            template_services.submit_template(obj)
        except (template_services.TemplateError, ValidationError) as error:
            text = "; ".join(getattr(error, "messages", None) or [str(error)])
            self.message_user(
                request,
                _("Saved, but not submitted: %(name)s (%(language)s): %(error)s")
                % {"name": obj.name, "language": obj.language, "error": text},
                messages.ERROR,
            )
            return False
        self.message_user(
            request,
            _("Submitted for review: %(name)s (%(language)s). WhatsApp answers by webhook.")
            % {"name": obj.name, "language": obj.language},
            messages.SUCCESS,
        )
        return True

    def _back_to(self, obj):
        return HttpResponseRedirect(
            reverse("admin:channels_app_messagetemplate_change", args=[obj.pk])
        )

    def response_add(self, request, obj, post_url_continue=None):
        if SUBMIT in request.POST:
            self._submit_and_report(request, obj)
            return self._back_to(obj)
        self.message_user(
            request,
            _("Saved as a draft. Press “Submit for review” on its page to send it to WhatsApp."),
            messages.INFO,
        )
        return super().response_add(request, obj, post_url_continue)

    def response_change(self, request, obj):
        if SUBMIT in request.POST:
            if self._is_draft(obj):
                self._submit_and_report(request, obj)
            return self._back_to(obj)
        return super().response_change(request, obj)

    @admin.action(description=_("Submit for review"), permissions=["change"])
    def submit_for_review(self, request, queryset):
        submitted = 0
        for template in queryset.select_related("channel"):
            try:
                template_services.submit_template(template)
                submitted += 1
            except template_services.TemplateError as error:
                self.message_user(
                    request,
                    _("%(name)s (%(language)s): %(error)s")
                    % {"name": template.name, "language": template.language, "error": error},
                    messages.ERROR,
                )
            except ValidationError as error:
                self.message_user(request, "; ".join(error.messages), messages.ERROR)
        if submitted:
            self.message_user(
                request,
                ngettext(
                    "%(count)d template submitted for review.",
                    "%(count)d templates submitted for review.",
                    submitted,
                )
                % {"count": submitted},
                messages.SUCCESS,
            )

    @admin.action(description=_("Sync templates from WhatsApp"), permissions=["change"])
    def sync_from_whatsapp(self, request, queryset):
        channels = {t.channel for t in queryset.select_related("channel")}
        total = template_services.SyncResult()
        for channel in channels:
            try:
                result = template_services.sync_templates(channel)
            except template_services.WhatsAppError as error:
                self.message_user(request, f"{channel}: {error.user_message}", messages.ERROR)
                continue
            total.created += result.created
            total.updated += result.updated
            total.deleted += result.deleted
        self.message_user(
            request,
            _("Synced: %(created)d new, %(updated)d changed, %(deleted)d removed.")
            % total.as_dict(),
            messages.SUCCESS,
        )
