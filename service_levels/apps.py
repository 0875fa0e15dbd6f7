from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ServiceLevelsConfig(AppConfig):
    name = "service_levels"
    verbose_name = _("Business hours and service levels")

    def ready(self):
        from service_levels import receivers  # noqa: F401 - connects to conversations.signals
