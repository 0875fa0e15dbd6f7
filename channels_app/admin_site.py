"""The project's admin site: its titles, and an index that starts with what admins use most.

Installed through ``DeskAdminConfig`` (in INSTALLED_APPS instead of ``django.contrib.admin``), so
``django.contrib.admin.site`` *is* this site and every ``@admin.register`` lands here.
"""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.utils.translation import gettext_lazy as _

# Apps and models listed first on the admin index, in this order; the rest follow alphabetically.
APP_ORDER = ["channels_app", "onboarding", "conversations", "auth"]
MODEL_ORDER = {
    "channels_app": ["Channel", "Team", "MessageTemplate"],
    "auth": ["User", "Group"],
}


def _position(order: list[str], key: str) -> tuple[int, str]:
    return (order.index(key) if key in order else len(order), key)


class DeskAdminSite(admin.AdminSite):
    site_header = _("Messaging desk administration")
    site_title = _("Messaging desk admin")
    index_title = _("Channels, teams, access and onboarding")
    # The changelists carry many columns plus a filter column; a third (navigation) column would
    # squeeze them into horizontal scrolling at laptop widths. Breadcrumbs and the index remain.
    enable_nav_sidebar = False

    def get_app_list(self, request, app_label=None):
        apps = super().get_app_list(request, app_label)
        apps.sort(key=lambda app: _position(APP_ORDER, app["app_label"]))
        for app in apps:
            order = MODEL_ORDER.get(app["app_label"], [])
            app["models"].sort(key=lambda model: _position(order, model["object_name"]))
        return apps


class DeskAdminConfig(AdminConfig):
    default_site = "channels_app.admin_site.DeskAdminSite"
