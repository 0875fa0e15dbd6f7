"""Why a message failed, for people, and whether sending it again may work.

A failed message stores Meta's error code and Meta's own (English) text; the sentence an agent
reads is chosen here when the page is shown, in the agent's language: a translated text per
known code, Meta's text as the fallback for a code this table does not know. The retry rule
follows reference/whatsapp-cloud-api.md section 2.6: throttling and outages may be retried,
refusals about the recipient, the window, templates or the request itself may not.
"""

from __future__ import annotations

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

# Meta's codes for throttling and temporary outages: sending the same message later may work.
RETRYABLE_CODES = frozenset({1, 2, 4, 80007, 130429, 131000, 131016, 131056, 131057, 133004})
# Codes that say the message must not be sent again as it is, whatever Meta's is_transient says.
NEVER_RETRY_CODES = frozenset(
    {0, 3, 10, 100, 190, 368, 130472, 130497, 131005, 131008, 131009, 131021, 131026, 131030,
     131031, 131042, 131047, 131048, 131049, 131050, 131051, 131053}
)  # fmt: skip

_TOKEN = _("The channel's access token is invalid or expired; an admin must renew it.")
_PERMISSION = _("The channel's WhatsApp account lacks a permission; an admin must check it.")
_UNAVAILABLE = _("WhatsApp was temporarily unavailable.")
_BAD_REQUEST = _("WhatsApp refused the message as invalid (a missing or wrong value).")

FAILURE_TEXTS = {
    0: _TOKEN,
    1: _UNAVAILABLE,
    2: _UNAVAILABLE,
    3: _PERMISSION,
    4: _("Too many requests from this app to WhatsApp at once."),
    10: _PERMISSION,
    100: _BAD_REQUEST,
    190: _TOKEN,
    368: _("This number is temporarily blocked by WhatsApp for policy violations."),
    80007: _("The WhatsApp Business account reached its rate limit."),
    130429: _("This number reached WhatsApp's limit of messages per second."),
    130472: _("The customer is in a WhatsApp experiment group and cannot receive this message."),
    130497: _("This WhatsApp account may not message customers in the customer's country."),
    131000: _("Something went wrong at WhatsApp."),
    131005: _PERMISSION,
    131008: _BAD_REQUEST,
    131009: _BAD_REQUEST,
    131016: _UNAVAILABLE,
    131021: _("The recipient is this channel's own number."),
    131026: _(
        "The message could not be delivered: the customer may not use WhatsApp, may run an old "
        "version, or may have blocked this number."
    ),
    131030: _("This number may not message that customer (not in the allowed list)."),
    131031: _("The WhatsApp account is locked; an admin must contact Meta."),
    131042: _("There is a payment problem with the WhatsApp Business account."),
    131047: _(
        "The 24-hour customer service window is closed: only an approved template can be sent."
    ),
    131048: _("Too many messages from this number were reported as spam; sending is limited."),
    131049: _(
        "WhatsApp held this message back: the customer received too many marketing messages "
        "lately. Wait at least 24 hours."
    ),
    131050: _("The customer stopped marketing messages from this business."),
    131051: _("WhatsApp does not support this kind of message."),
    131053: _("The attachment could not be uploaded or fetched."),
    131056: _("Too many messages to this customer in a short time."),
    131057: _("The WhatsApp account is in maintenance mode."),
    132000: _("The number of template parameters does not match the template."),
    132001: _("The template does not exist in this language or is not approved."),
    132005: _("The template text is too long with these parameters."),
    132007: _("The template parameters break WhatsApp's formatting rules."),
    132012: _("A template parameter has the wrong format."),
    132015: _("The template is paused because of its low quality."),
    132016: _("The template is disabled."),
    133004: _UNAVAILABLE,
}


def is_retryable(code: int | None, *, transient: bool = False) -> bool:
    """Whether sending a message that failed with ``code`` again may succeed: Meta's
    throttling and outage codes, or (no code, or one this table does not know) a failure the
    client saw as transient (no answer, HTTP 5xx, 429)."""
    if code is not None and code in NEVER_RETRY_CODES:
        return False
    if code is not None and code in RETRYABLE_CODES:
        return True
    return bool(transient)


def describe_failure(code: int | None, raw: str = "", *, transient: bool = False) -> str:
    """The reason a message failed, in the active language.

    A known code: its translated text and the code (for support). An unknown one: Meta's own
    text. No code at all: WhatsApp was not reached (transient), or Meta's (or our) text.
    """
    raw = " ".join((raw or "").split())
    if code is None:
        if transient:
            return gettext("WhatsApp could not be reached or was unavailable.")
        if raw:
            return gettext("The message could not be sent: %(reason)s") % {"reason": raw}
        return gettext("The message could not be sent.")
    text = FAILURE_TEXTS.get(code)
    if text is not None:
        reason = str(text)
    elif raw:
        reason = gettext("WhatsApp refused the message: %(reason)s") % {"reason": raw}
    else:
        reason = gettext("WhatsApp refused the message.")
    return gettext("%(reason)s (WhatsApp error %(code)s)") % {"reason": reason, "code": code}
