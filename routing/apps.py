from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RoutingConfig(AppConfig):
    name = "routing"
    verbose_name = _("Routing")

    def ready(self):
        # Connects the receivers: conversations' announcements, user_logged_out.
        from routing import receivers  # noqa: F401
