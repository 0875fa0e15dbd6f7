from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChannelsAppConfig(AppConfig):
    name = "channels_app"
    verbose_name = _("Channels and access")

    def ready(self):
        from channels_app import (
            checks,  # noqa: F401 - registers the system checks
            health,
            transports,
        )
        from channels_app.whatsapp import client
        from channels_app.whatsapp.transport import WhatsAppTransport

        # The first medium (docs/architecture.md, "Transports"): a second one registers its
        # own transport from its app's ready() the same way.
        transports.register(WhatsAppTransport())

        # A channel's token refused by the Graph API is recorded (docs/channel-health.md).
        if health.client_outcome not in client.token_listeners:
            client.token_listeners.append(health.client_outcome)
