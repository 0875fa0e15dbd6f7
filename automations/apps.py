from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AutomationsConfig(AppConfig):
    name = "automations"
    verbose_name = _("Automations and opt-outs")

    def ready(self):
        from automations import receivers

        receivers.connect()
