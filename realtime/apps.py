from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = _("Live updates")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Receivers of conversations.signals and of the access models' changes.
        from realtime import receivers

        receivers.connect()
