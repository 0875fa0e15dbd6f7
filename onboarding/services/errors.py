"""What refuses an onboarding step (each carries the sentence shown to the operator), and
the templates' progress."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _

from channels_app.whatsapp.errors import InvalidToken, WhatsAppError

logger = logging.getLogger(__name__)


logger = logging.getLogger(__name__)


# --- errors --------------------------------------------------------------------------------------
class OnboardingError(Exception):
    """A refused step; ``message`` is shown to the admin as it is."""

    default = _("This step cannot be done now.")

    def __init__(self, message=None):
        self.message = str(message or self.default)
        super().__init__(self.message)


class StepOutOfOrder(OnboardingError):
    default = _("Complete the earlier steps first.")


class StepAlreadyDone(OnboardingError):
    default = _("This step is already done.")


class WrongAction(OnboardingError):
    default = _("This step is completed by its own action, not by hand.")


class NoCodeRequested(OnboardingError):
    default = _("Request a verification code first.")


class CodeExpired(OnboardingError):
    default = _("The code has expired (codes are valid 10 minutes). Request a new code.")


class TooManyAttempts(OnboardingError):
    default = _("Too many wrong attempts for this code. Request a new code.")


class TooManyCodeRequests(OnboardingError):
    default = _("At most 5 codes can be requested per hour. Try again later.")


class WrongCode(OnboardingError):
    default = _("WhatsApp did not accept the code. Check it and try again.")


class ProviderRefused(OnboardingError):
    """WhatsApp refused or could not be reached; carries the client's sentence for people.

    Before the channel exists the API steps use the operator's token stored on the onboarding
    (``onboarding_token``): a refused token then says which token to enter, where, and where it
    comes from, instead of the client's sentence about the channel's token.
    """

    def __init__(self, error: WhatsAppError, *, onboarding_token: bool = False):
        self.error = error
        if onboarding_token and isinstance(error, InvalidToken):
            super().__init__(
                _(
                    "WhatsApp refused the access token (WhatsApp error %(code)s). Enter the "
                    "operator's access token in this step's \"access token\" field: a system "
                    "user token from the operator's Meta Business Manager (Business settings → "
                    "Users → System users → Generate token) with the permissions "
                    "whatsapp_business_management and whatsapp_business_messaging."
                )
                % {"code": error.code}
            )
            return
        super().__init__(error.user_message)


@dataclass(frozen=True)
class TemplateProgress:
    approved: int
    pending: int
    rejected: int
    drafts: int
