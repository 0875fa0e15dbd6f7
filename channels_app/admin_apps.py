"""django.contrib.admin with the desk's own site (channels_app/admin_site.py).

In INSTALLED_APPS instead of ``django.contrib.admin``. A module of its own because INSTALLED_APPS
imports it before the models are ready, and the site's module imports forms that need them.
"""

from django.contrib.admin.apps import AdminConfig


class DeskAdminConfig(AdminConfig):
    default_site = "channels_app.admin_site.DeskAdminSite"
