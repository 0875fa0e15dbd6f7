from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ComposerConfig(AppConfig):
    name = "composer"
    verbose_name = _("Composer")

    def ready(self) -> None:
        # The read receipts "on reply" follow the desk's replies (docs/composer.md).
        from composer import receipts
        from conversations import signals

        signals.message_sent.connect(receipts.on_message_sent, dispatch_uid="composer-receipts")
