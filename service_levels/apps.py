from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ServiceLevelsConfig(AppConfig):
    name = "service_levels"
    verbose_name = _("Business hours and service levels")

    def ready(self):
        from django.db.models.signals import post_delete, post_save

        from onboarding import business_time
        from service_levels import (
            hours,
            receivers,  # noqa: F401 - connects to conversations.signals
        )
        from service_levels.models import Holiday, HolidaySet

        # The onboarding checklist's business days skip the holidays of the sets marked for it.
        business_time.holiday_rule = hours.onboarding_holiday_rule
        for model in (Holiday, HolidaySet):
            for signal in (post_save, post_delete):
                signal.connect(
                    hours.forget_onboarding_holidays,
                    sender=model,
                    dispatch_uid=f"service_levels.forget.{model.__name__}.{signal}",
                )
