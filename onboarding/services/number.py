"""Steps 3, 6 and 7: the number at Meta, its verification code, registering it and linking the
channel."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import phonenumbers
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext_lazy as _

from channels_app.models import DEFAULT_AUTO_RESOLVE, Channel
from channels_app.whatsapp.client import WhatsAppClient
from channels_app.whatsapp.errors import InvalidToken, WhatsAppError
from onboarding.models import (
    MAX_CODE_ATTEMPTS,
    MAX_CODE_REQUESTS_PER_HOUR,
    CodeRequest,
    Onboarding,
    OnboardingStep,
)
from onboarding.services.base import (
    Actor,
    State,
    _append_note,
    _call,
    _check_actionable,
    _complete,
    _locked,
    _now,
    _refresh,
    _require_number_id,
    _steps_of,
    _user,
    client_for,
)
from onboarding.services.errors import (
    CodeExpired,
    NoCodeRequested,
    OnboardingError,
    ProviderRefused,
    TooManyAttempts,
    TooManyCodeRequests,
    WrongCode,
)
from onboarding.validation import parse_phone_number

logger = logging.getLogger(__name__)

# --- step 3: the number at Meta --------------------------------------------------------------
def add_number(
    onboarding: Onboarding,
    *,
    waba_id: str,
    access_token: str = "",
    actor: Actor,
    now: datetime | None = None,
) -> Onboarding:
    """Step 3: add the number with its display name to the operator's WhatsApp Business account
    (POST /{waba-id}/phone_numbers) and store the phone number id Meta answers."""
    now = _now(now)
    waba_id = (waba_id or "").strip()
    if not waba_id.isdigit():
        raise ValidationError(_("The WhatsApp Business account ID has digits only."))
    _check_actionable("account_created", _steps_of(onboarding))
    number = phonenumbers.parse(onboarding.phone_number, None)
    client = (
        WhatsAppClient(access_token.strip()) if access_token.strip() else client_for(onboarding)
    )
    phone_number_id = _call(
        client.add_phone_number,
        waba_id,
        onboarding_token=not onboarding.channel_id,
        cc=str(number.country_code),
        phone_number=phonenumbers.national_significant_number(number),
        verified_name=onboarding.display_name,
    )
    with transaction.atomic():
        locked, by_key = _locked(onboarding)
        _check_actionable("account_created", by_key)
        locked.waba_id = waba_id
        locked.phone_number_id = phone_number_id
        if access_token.strip():
            locked.access_token = access_token.strip()
        locked.save()
        _complete(locked, by_key, "account_created", actor=actor, now=now)
    return _refresh(onboarding)


# --- step 6: the verification code ---------------------------------------------------------------
def request_code(
    onboarding: Onboarding,
    *,
    method: str | None = None,
    language: str = "en_US",
    actor: Actor,
    now: datetime | None = None,
) -> CodeRequest:
    """Step 6a: have Meta send a 6-digit code by SMS or voice call; the step waits on it.

    The method must suit the line (SMS for mobiles, voice for landlines). At most five requests
    per hour, checked before the API is asked. The code never reaches the desk.
    """
    now = _now(now)
    _check_actionable("number_verified", _steps_of(onboarding))
    method = method or onboarding.code_method
    allowed = parse_phone_number(onboarding.phone_number).code_methods
    if method not in allowed:
        raise ValidationError(
            _("This number can receive its code only by: %(methods)s.")
            % {"methods": ", ".join(str(Onboarding.CodeMethod(m).label) for m in allowed)}
        )
    recent = onboarding.code_requests.filter(requested_at__gt=now - timedelta(hours=1)).count()
    if recent >= MAX_CODE_REQUESTS_PER_HOUR:
        raise TooManyCodeRequests()
    phone_number_id = _require_number_id(onboarding)
    _call(
        client_for(onboarding).request_code,
        phone_number_id,
        method=method,
        language=language,
        onboarding_token=not onboarding.channel_id,
    )
    with transaction.atomic():
        locked, by_key = _locked(onboarding)
        step = _check_actionable("number_verified", by_key)
        code_request = CodeRequest.objects.create(
            onboarding=locked, method=method, requested_at=now, requested_by=_user(actor)
        )
        step.state = State.WAITING
        step.blocked_reason = ""
        _append_note(step, _("Code requested by %(method)s.") % {"method": method}, now)
        step.save()
    logger.info("onboarding %s: verification code requested by %s", onboarding.pk, method)
    return code_request


def verify_code(
    onboarding: Onboarding, *, code: str, actor: Actor, now: datetime | None = None
) -> OnboardingStep:
    """Step 6b: check the code the customer received; completes the step when Meta accepts it.

    Refused before any API call when no code was requested, the latest code is older than 10
    minutes (CodeExpired), or it had 5 attempts (TooManyAttempts). Each call that reaches the API
    uses one attempt; a wrong code raises WrongCode and changes nothing else.
    """
    now = _now(now)
    code = (code or "").strip()
    if not (len(code) == 6 and code.isdigit()):
        raise ValidationError(_("The code has 6 digits."))
    _check_actionable("number_verified", _steps_of(onboarding))
    latest = onboarding.code_requests.order_by("-requested_at", "-id").first()
    if latest is None or latest.verified_at is not None:
        raise NoCodeRequested()
    if latest.is_expired(now):
        raise CodeExpired()
    # Claim one attempt with a conditional UPDATE: two admins typing at once cannot exceed it.
    claimed = CodeRequest.objects.filter(pk=latest.pk, attempts__lt=MAX_CODE_ATTEMPTS).update(
        attempts=F("attempts") + 1
    )
    if not claimed:
        raise TooManyAttempts()
    phone_number_id = _require_number_id(onboarding)
    try:
        client_for(onboarding).verify_code(phone_number_id, code=code)
    except InvalidToken as error:
        raise ProviderRefused(error, onboarding_token=not onboarding.channel_id) from error
    except WhatsAppError as error:
        logger.info("onboarding %s: code refused (code=%s)", onboarding.pk, error.code)
        raise WrongCode(error.user_message) from error
    with transaction.atomic():
        locked, by_key = _locked(onboarding)
        CodeRequest.objects.filter(pk=latest.pk).update(verified_at=now)
        return _complete(locked, by_key, "number_verified", actor=actor, now=now)


# --- step 7: register and link the channel -------------------------------------------------------
def register_number(
    onboarding: Onboarding, *, pin: str, actor: Actor, now: datetime | None = None
) -> Channel:
    """Step 7: register the verified number for the Cloud API with its two-step PIN, then create
    the channel (or activate the one with this phone number id) and link it.

    A new channel gets the article's defaults (auto-resolve New and Pending after 30 days) and
    the onboarding's display name. The operator's token moves from the onboarding to the channel.
    """
    now = _now(now)
    pin = (pin or "").strip()
    if not (len(pin) == 6 and pin.isdigit()):
        raise ValidationError(_("The two-step verification PIN has 6 digits."))
    _check_actionable("activated", _steps_of(onboarding))
    phone_number_id = _require_number_id(onboarding)
    _call(
        client_for(onboarding).register,
        phone_number_id,
        pin=pin,
        onboarding_token=not onboarding.channel_id,
    )
    with transaction.atomic():
        locked, by_key = _locked(onboarding)
        _check_actionable("activated", by_key)
        channel = _link_channel(locked)
        _complete(locked, by_key, "activated", actor=actor, now=now)
    return channel


def _link_channel(onboarding: Onboarding) -> Channel:
    display_phone = phonenumbers.format_number(
        phonenumbers.parse(onboarding.phone_number, None),
        phonenumbers.PhoneNumberFormat.INTERNATIONAL,
    )
    channel = (
        Channel.objects.select_for_update()
        .filter(phone_number_id=onboarding.phone_number_id)
        .first()
    )
    if channel is None:
        channel = Channel(
            kind=Channel.Kind.WHATSAPP,
            display_name=onboarding.display_name,
            phone_number_id=onboarding.phone_number_id,
            auto_resolve_new_after=DEFAULT_AUTO_RESOLVE,
            auto_resolve_pending_after=DEFAULT_AUTO_RESOLVE,
        )
    elif Onboarding.objects.filter(channel=channel).exclude(pk=onboarding.pk).exists():
        raise OnboardingError(_("A channel with this number belongs to another onboarding."))
    channel.is_active = True
    channel.waba_id = onboarding.waba_id
    channel.display_phone_number = channel.display_phone_number or display_phone
    channel.verified_name = onboarding.display_name
    if not channel.access_token:
        channel.access_token = onboarding.access_token
    channel.full_clean()
    channel.save()
    onboarding.channel = channel
    # One place for the secret from now on: the channel's token drives every later call.
    onboarding.access_token = ""
    onboarding.save(update_fields=["channel", "access_token"])
    logger.info("onboarding %s linked to channel %s", onboarding.pk, channel.pk)
    return channel
