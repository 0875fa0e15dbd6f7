"""Admin for team and global saved replies (personal ones are their owners', on /saved-replies/).

Permissions from channels_app.access.is_admin; saves and deletions through replies.services.
"""

from __future__ import annotations

from django.contrib import admin

from channels_app.admin_site import AdminOnlyPermissions
from replies import services
from replies.forms import AdminSavedReplyForm
from replies.models import SavedReply


@admin.register(SavedReply)
class SavedReplyAdmin(AdminOnlyPermissions, admin.ModelAdmin):
    form = AdminSavedReplyForm
    list_display = ("title", "shortcut", "scope", "team", "language", "template", "updated_at")
    list_filter = ("scope", "language", "team")
    search_fields = ("title", "shortcut", "body")
    list_select_related = ("team", "template")
    ordering = ("title", "id")
    readonly_fields = ("created_at", "updated_at")

    def get_queryset(self, request):
        # Personal replies are private to their owners, even from admins.
        return super().get_queryset(request).exclude(scope=SavedReply.Scope.PERSONAL)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)

        class ActorForm(form):
            actor = request.user

        return ActorForm

    def save_model(self, request, obj, form, change):
        # The form already validated through the same service (AdminSavedReplyForm).
        services.save_saved_reply(obj, actor=request.user)

    def delete_model(self, request, obj):
        services.delete_saved_reply(obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for reply in queryset:
            services.delete_saved_reply(reply, actor=request.user)
