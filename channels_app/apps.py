from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChannelsAppConfig(AppConfig):
    name = "channels_app"
    verbose_name = _("Channels and access")

    def ready(self):
        from channels_app import checks  # noqa: F401 - registers the system checks
