from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DevtoolsConfig(AppConfig):
    """The development tools: the demo data and the WhatsApp Cloud API emulator.

    The top room of the house (docs/architecture.md): it may import every app, and no app
    imports it. It has no models, URLs or templates; installed always, so that ``seed_demo``
    and ``whatsapp_emulator`` are there wherever the product runs, and nothing of it is loaded
    unless one of its commands is run.
    """

    name = "devtools"
    verbose_name = _("Development tools")
