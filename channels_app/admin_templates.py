"""Admin for WhatsApp message templates: browse the synced ones, write drafts, submit for review.

Synced fields are read-only (Meta owns them); only drafts can be edited. Every permission comes
from channels_app.access.is_admin. Actions call template_services and report counts; they run
outside a transaction (the changelist is not atomic), so the provider call holds no lock.
"""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from channels_app import template_services
from channels_app.access import is_admin
from channels_app.models import MessageTemplate

SYNCED_FIELDS = ("provider_id", "status", "rejection_reason", "quality_score", "updated_at")
EDITABLE_FIELDS = ("channel", "name", "language", "category", "parameter_format", "components")


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
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
    fields = (*EDITABLE_FIELDS, *SYNCED_FIELDS)

    def has_module_permission(self, request):
        return is_admin(request.user)

    def has_view_permission(self, request, obj=None):
        return is_admin(request.user)

    def has_add_permission(self, request):
        return is_admin(request.user)

    def has_change_permission(self, request, obj=None):
        return is_admin(request.user)

    def has_delete_permission(self, request, obj=None):
        # Deleting at Meta is not offered; a local row would come back at the next sync.
        return is_admin(request.user) and (
            obj is None or obj.status == MessageTemplate.Status.DRAFT
        )

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status != MessageTemplate.Status.DRAFT:
            return (*EDITABLE_FIELDS, *SYNCED_FIELDS)
        return SYNCED_FIELDS

    def get_changeform_initial_data(self, request):
        return {
            "language": "en_US",
            "components": [
                {
                    "type": "BODY",
                    "text": "Hi {{1}}, your order {{2}} has shipped.",
                    "example": {"body_text": [["Dana", "4471"]]},
                }
            ],
            **super().get_changeform_initial_data(request),
        }

    def save_model(self, request, obj, form, change):
        if change and obj.status != MessageTemplate.Status.DRAFT:
            return  # every field of a synced template is read-only: nothing to save
        # The form ran validate_draft already (DraftForm), so this cannot refuse.
        template_services.save_draft(obj)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)

        class DraftForm(form):
            def _post_clean(self):
                super()._post_clean()
                if not change or self.instance.status == MessageTemplate.Status.DRAFT:
                    try:
                        template_services.validate_draft(self.instance)
                    except ValidationError as error:
                        self._update_errors(error)

        return DraftForm

    def response_add(self, request, obj, post_url_continue=None):
        self.message_user(
            request,
            _("Saved as a draft. Select it and run “Submit for review” to send it to WhatsApp."),
            messages.INFO,
        )
        return super().response_add(request, obj, post_url_continue)

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
