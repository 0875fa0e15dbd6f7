"""Admin for team and global saved replies (personal ones are their owners', on /saved-replies/).

Permissions from channels_app.access.is_admin; saves and deletions through replies.services.
"""

from __future__ import annotations

from django.contrib import admin

from channels_app.access import is_admin
from replies import services
from replies.forms import AdminSavedReplyForm
from replies.models import SavedReply


@admin.register(SavedReply)
class SavedReplyAdmin(admin.ModelAdmin):
    form = AdminSavedReplyForm
    list_display = ("title", "shortcut", "scope", "team", "language", "template", "updated_at")
    list_filter = ("scope", "language", "team")
    search_fields = ("title", "shortcut", "body")
    list_select_related = ("team", "template")
    ordering = ("title", "id")
    readonly_fields = ("created_at", "updated_at")

    def has_module_permission(self, request):
        return is_admin(request.user)

    def has_view_permission(self, request, obj=None):
        return is_admin(request.user)

    def has_add_permission(self, request):
        return is_admin(request.user)

    def has_change_permission(self, request, obj=None):
        return is_admin(request.user)

    def has_delete_permission(self, request, obj=None):
        return is_admin(request.user)

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
