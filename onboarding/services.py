"""Every state change of an onboarding: steps, codes, and the provider calls that drive them.

Services take the onboarding positionally and everything else keyword-only, with a required
``actor`` (a user, or None for the system) and an optional ``now``. Provider calls never run inside
a transaction: each API step checks locally first (prerequisites, code expiry, attempts, image
type and size), calls the API, and only then writes in one short transaction that locks the
onboarding row and re-checks. A refusal at any point raises an ``OnboardingError`` (or a
``ValidationError`` for bad input) and leaves the checklist as it was. See docs/onboarding.md.

Secrets: the verification code and the two-step PIN are passed straight to the API and are never
stored or logged; the access token is stored (write-only in the admin) and never logged.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import phonenumbers
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from channels_app import template_services
from channels_app.models import DEFAULT_AUTO_RESOLVE, Channel, MessageTemplate
from channels_app.whatsapp.client import WhatsAppClient
from channels_app.whatsapp.errors import InvalidToken, WhatsAppError
from onboarding import steps
from onboarding.models import (
    MAX_CODE_ATTEMPTS,
    MAX_CODE_REQUESTS_PER_HOUR,
    CodeRequest,
    Onboarding,
    OnboardingStep,
)
from onboarding.validation import (
    display_name_problems,
    parse_phone_number,
    validate_business_manager_id,
)

logger = logging.getLogger(__name__)

Actor = AbstractBaseUser | None
State = OnboardingStep.State

MAX_LOGO_BYTES = 5 * 2**20  # Meta: profile images up to 5 MB
LOGO_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png"}
# Meta's business-profile verticals (reference 5.7).
VERTICALS = (
    "AUTO",
    "BEAUTY",
    "APPAREL",
    "EDU",
    "ENTERTAIN",
    "EVENT_PLAN",
    "FINANCE",
    "GROCERY",
    "GOVT",
    "HOTEL",
    "HEALTH",
    "NONPROFIT",
    "PROF_SERVICES",
    "RETAIL",
    "TRAVEL",
    "RESTAURANT",
    "OTHER",
)


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


# --- helpers -------------------------------------------------------------------------------------
def _now(now: datetime | None) -> datetime:
    return now or timezone.now()


def _user(actor: Actor):
    return actor if actor is not None and actor.is_authenticated else None


def _steps_of(onboarding: Onboarding, *, lock: bool = False) -> dict[str, OnboardingStep]:
    qs = OnboardingStep.objects.filter(onboarding=onboarding)
    if lock:
        qs = qs.select_for_update()
    return {step.key: step for step in qs}


def _locked(onboarding: Onboarding) -> tuple[Onboarding, dict[str, OnboardingStep]]:
    # Onboarding row first, then its steps: the one lock order of this module.
    locked = Onboarding.objects.select_for_update().get(pk=onboarding.pk)
    return locked, _steps_of(locked, lock=True)


def missing_prerequisites(key: str, by_key: dict[str, OnboardingStep]) -> list[steps.StepDef]:
    """The prerequisite steps of ``key`` that are not done, in order."""
    return [steps.get(p) for p in steps.get(key).prerequisites if by_key[p].state != State.DONE]


def _check_actionable(key: str, by_key: dict[str, OnboardingStep]) -> OnboardingStep:
    step = by_key[key]
    if step.state == State.DONE:
        raise StepAlreadyDone(
            _("Step %(order)d is already done.") % {"order": step.definition.order}
        )
    missing = missing_prerequisites(key, by_key)
    if missing:
        raise StepOutOfOrder(
            _("Step %(order)d cannot be done before: %(missing)s.")
            % {
                "order": step.definition.order,
                "missing": "; ".join(f"{m.order}. {m.title}" for m in missing),
            }
        )
    return step


def _append_note(step: OnboardingStep, note: str, now: datetime) -> None:
    note = (note or "").strip()
    if note:
        stamp = timezone.localtime(now).strftime("%Y-%m-%d %H:%M")
        step.notes = f"{step.notes}\n{stamp} {note}".strip()


def _complete(
    onboarding: Onboarding,
    by_key: dict[str, OnboardingStep],
    key: str,
    *,
    actor: Actor,
    now: datetime,
    note: str = "",
) -> OnboardingStep:
    """Mark a step done (caller holds the locks), start the steps that became possible, and
    complete the onboarding when all ten are done."""
    step = _check_actionable(key, by_key)
    step.state = State.DONE
    step.completed_by = _user(actor)
    step.completed_at = now
    step.blocked_reason = ""
    step.is_overdue = False
    _append_note(step, note, now)
    step.save()
    started = [
        s.pk
        for s in by_key.values()
        if s.state != State.DONE
        and s.waiting_since is None
        and not missing_prerequisites(s.key, by_key)
    ]
    OnboardingStep.objects.filter(pk__in=started).update(waiting_since=now)
    if all(s.state == State.DONE for s in by_key.values()) and onboarding.completed_at is None:
        onboarding.completed_at = now
        onboarding.save(update_fields=["completed_at"])
        logger.info("onboarding %s complete", onboarding.pk)
    logger.info("onboarding %s: step %s done", onboarding.pk, key)
    return step


def _refresh(onboarding: Onboarding) -> Onboarding:
    onboarding.refresh_from_db()
    return onboarding


def client_for(onboarding: Onboarding) -> WhatsAppClient:
    """The API client for an onboarding: the channel's token once the channel exists, before
    that the operator's token stored on the onboarding."""
    if onboarding.channel_id and onboarding.channel.access_token:
        return WhatsAppClient.for_channel(onboarding.channel)
    if not onboarding.access_token:
        raise OnboardingError(_("Enter the operator's access token on the onboarding first."))
    return WhatsAppClient(onboarding.access_token)


def _call(function, *args, onboarding_token: bool = False, **kwargs):
    try:
        return function(*args, **kwargs)
    except WhatsAppError as error:
        raise ProviderRefused(error, onboarding_token=onboarding_token) from error


def _require_number_id(onboarding: Onboarding) -> str:
    if not onboarding.phone_number_id:
        raise StepOutOfOrder(_("The number has not been added to a WhatsApp Business account."))
    return onboarding.phone_number_id


# --- details -------------------------------------------------------------------------------------
def clean_details(
    *, phone_number: str, business_manager_id: str, display_name: str, code_method: str | None
) -> dict:
    """The submitted details normalised (E.164, number type, code method); ValidationError
    keyed by field for whatever breaks a local rule."""
    errors: dict[str, list] = {}
    values: dict = {"business_manager_id": business_manager_id, "display_name": display_name}
    try:
        parsed = parse_phone_number(phone_number)
    except ValidationError as error:
        errors["phone_number"] = error.messages
        parsed = None
    try:
        validate_business_manager_id(business_manager_id)
    except ValidationError as error:
        errors["business_manager_id"] = error.messages
    name_errors, _warnings = display_name_problems(display_name)
    if name_errors:
        errors["display_name"] = name_errors
    if parsed is not None:
        allowed = parsed.code_methods
        method = code_method or allowed[0]
        if method not in allowed:
            errors["code_method"] = [
                _("A mobile number gets its code by SMS.")
                if method == Onboarding.CodeMethod.VOICE
                else _("A landline cannot receive an SMS: the code comes by voice call.")
            ]
        values.update(phone_number=parsed.e164, number_type=parsed.kind, code_method=method)
    if errors:
        raise ValidationError(errors)
    return values


@transaction.atomic
def create_onboarding(
    *,
    phone_number: str,
    business_manager_id: str,
    display_name: str,
    code_method: str | None = None,
    access_token: str = "",
    actor: Actor,
    now: datetime | None = None,
) -> Onboarding:
    """Start an onboarding for a number with its ten steps; the first step's clock starts now.

    Raises ValidationError (per field) for an invalid number, Business Manager ID or display
    name, or a code method the line cannot receive; nothing is written then.
    """
    now = _now(now)
    values = clean_details(
        phone_number=phone_number,
        business_manager_id=business_manager_id,
        display_name=display_name,
        code_method=code_method,
    )
    onboarding = Onboarding(
        **values, access_token=access_token, created_by=_user(actor), created_at=now
    )
    onboarding.full_clean()
    onboarding.save()
    OnboardingStep.objects.bulk_create(
        OnboardingStep(
            onboarding=onboarding,
            key=step.key,
            order=step.order,
            waiting_since=now if not step.prerequisites else None,
        )
        for step in steps.STEPS
    )
    logger.info("onboarding %s started", onboarding.pk)
    return onboarding


@transaction.atomic
def update_details(
    onboarding: Onboarding,
    *,
    phone_number: str,
    business_manager_id: str,
    display_name: str,
    code_method: str | None = None,
    access_token: str | None = None,
    actor: Actor,
) -> Onboarding:
    """Change the submitted details; refused once the number was added at Meta (step 3).

    ``access_token`` None keeps the stored token. ValidationError as in create_onboarding.
    """
    locked, by_key = _locked(onboarding)
    values = clean_details(
        phone_number=phone_number,
        business_manager_id=business_manager_id,
        display_name=display_name,
        code_method=code_method,
    )
    changes_number = any(getattr(locked, f) != values[f] for f in ("phone_number", "display_name"))
    if changes_number and by_key["account_created"].state == State.DONE:
        raise ValidationError(
            _("The number and display name are registered at WhatsApp and cannot change here.")
        )
    for field, value in values.items():
        setattr(locked, field, value)
    if access_token is not None:
        locked.access_token = access_token
    locked.full_clean()
    locked.save()
    return locked


# --- manual steps --------------------------------------------------------------------------------
@transaction.atomic
def record_terms(
    onboarding: Onboarding,
    *,
    agreement_signed_by: str,
    terms_accepted_by: str,
    signed_at: datetime | None = None,
    actor: Actor,
    now: datetime | None = None,
) -> Onboarding:
    """Step 1: record who signed the agreement and accepted WhatsApp's business terms, and when."""
    now = _now(now)
    if not agreement_signed_by.strip() or not terms_accepted_by.strip():
        raise ValidationError(_("Name who signed the agreement and who accepted the terms."))
    if signed_at and signed_at > now:
        raise ValidationError(_("The signature cannot be in the future."))
    locked, by_key = _locked(onboarding)
    _check_actionable("terms", by_key)
    locked.agreement_signed_by = agreement_signed_by.strip()
    locked.terms_accepted_by = terms_accepted_by.strip()
    locked.agreement_signed_at = locked.terms_accepted_at = signed_at or now
    locked.save()
    _complete(locked, by_key, "terms", actor=actor, now=now)
    return locked


@transaction.atomic
def advance_step(
    onboarding: Onboarding,
    *,
    key: str,
    actor: Actor,
    now: datetime | None = None,
    note: str = "",
) -> OnboardingStep:
    """Mark a manual step done ("mark done"); prerequisites must be done.

    Steps completed by a provider action (code, register, profile, …) are refused with
    WrongAction, except the badge, which Meta may grant outside the API's view. Completing
    "details" re-runs the local checks of the stored details.
    """
    now = _now(now)
    definition = steps.get(key)
    if definition.completed_by not in ("manual", "badge"):
        raise WrongAction()
    locked, by_key = _locked(onboarding)
    _check_actionable(key, by_key)
    if key == "details":
        clean_details(
            phone_number=locked.phone_number,
            business_manager_id=locked.business_manager_id,
            display_name=locked.display_name,
            code_method=locked.code_method,
        )
    return _complete(locked, by_key, key, actor=actor, now=now, note=note)


@transaction.atomic
def mark_waiting(
    onboarding: Onboarding,
    *,
    key: str,
    actor: Actor,
    now: datetime | None = None,
    note: str = "",
) -> OnboardingStep:
    """Say the step waits on someone (a request sent, a review running); unblocks a blocked step
    and restarts its clock then. Prerequisites must be done."""
    now = _now(now)
    _onboarding, by_key = _locked(onboarding)
    step = _check_actionable(key, by_key)
    if step.state == State.BLOCKED or step.waiting_since is None:
        step.waiting_since = now
    step.state = State.WAITING
    step.blocked_reason = ""
    _append_note(step, note, now)
    step.save()
    return step


@transaction.atomic
def block_step(
    onboarding: Onboarding,
    *,
    key: str,
    reason: str,
    actor: Actor,
    now: datetime | None = None,
) -> OnboardingStep:
    """Mark a step blocked with a reason (its overdue clock stops until it is unblocked)."""
    now = _now(now)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_("Say why the step is blocked."))
    _onboarding, by_key = _locked(onboarding)
    step = by_key[key]
    if step.state == State.DONE:
        raise StepAlreadyDone()
    step.state = State.BLOCKED
    step.blocked_reason = reason
    step.is_overdue = False
    _append_note(step, _("Blocked: %(reason)s") % {"reason": reason}, now)
    step.save()
    return step


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


# --- step 8: business profile and logo -----------------------------------------------------------
def check_logo(content: bytes) -> str:
    """The MIME type of a logo that Meta accepts (JPEG or PNG, at most 5 MB), judged from the
    bytes themselves; ValidationError otherwise."""
    if len(content) > MAX_LOGO_BYTES:
        raise ValidationError(_("The logo is larger than 5 MB."))
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(content)) as image:
            image_format = image.format
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ValidationError(_("The logo is not a readable image.")) from None
    if image_format not in LOGO_FORMATS:
        raise ValidationError(_("The logo must be a JPEG or PNG image."))
    return LOGO_FORMATS[image_format]


def _clean_profile(
    *,
    about: str,
    description: str,
    email: str,
    address: str,
    websites: Sequence[str],
    vertical: str,
) -> dict:
    errors: dict[str, list] = {}
    about = (about or "").strip()
    if not 1 <= len(about) <= 139:
        errors["about"] = [_("The About text has 1 to 139 characters.")]
    if len(description or "") > 512:
        errors["description"] = [_("The description has at most 512 characters.")]
    if len(address or "") > 256:
        errors["address"] = [_("The address has at most 256 characters.")]
    if email:
        try:
            EmailValidator()(email)
            if len(email) > 128:
                raise ValidationError("")
        except ValidationError:
            errors["email"] = [_("Enter a valid e-mail address of at most 128 characters.")]
    sites = [w.strip() for w in websites if w and w.strip()]
    try:
        if len(sites) > 2:
            raise ValidationError("")
        for site in sites:
            URLValidator(schemes=["http", "https"])(site)
            if len(site) > 256:
                raise ValidationError("")
    except ValidationError:
        errors["websites"] = [_("At most two web addresses starting with http:// or https://.")]
    if vertical and vertical not in VERTICALS:
        errors["vertical"] = [_("Pick an industry from the list.")]
    if errors:
        raise ValidationError(errors)
    optional = {"description": description, "email": email, "address": address}
    return {
        "about": about,
        "websites": sites,
        **{key: value for key, value in {**optional, "vertical": vertical}.items() if value},
    }


def set_business_profile(
    onboarding: Onboarding,
    *,
    about: str,
    logo: bytes,
    logo_name: str = "logo",
    description: str = "",
    email: str = "",
    address: str = "",
    websites: Sequence[str] = (),
    vertical: str = "",
    actor: Actor,
    now: datetime | None = None,
) -> OnboardingStep:
    """Step 8: upload the logo and set the WhatsApp business profile; completes the step.

    The logo's type (JPEG/PNG from its bytes) and size (≤ 5 MB) and the profile's field limits
    are checked before anything is uploaded.
    """
    now = _now(now)
    fields = _clean_profile(
        about=about,
        description=description,
        email=email,
        address=address,
        websites=websites,
        vertical=vertical,
    )
    mime_type = check_logo(logo)
    _check_actionable("profile", _steps_of(onboarding))
    phone_number_id = _require_number_id(onboarding)
    client = client_for(onboarding)
    handle = _call(
        client.upload_media,
        phone_number_id,
        content=logo,
        mime_type=mime_type,
        filename=logo_name or "logo",
    )
    _call(client.update_business_profile, phone_number_id, profile_picture_handle=handle, **fields)
    with transaction.atomic():
        locked, by_key = _locked(onboarding)
        return _complete(locked, by_key, "profile", actor=actor, now=now)


# --- step 9: the verified badge ------------------------------------------------------------------
def request_badge(
    onboarding: Onboarding,
    *,
    website_url: str,
    country: str,
    language: str,
    supporting_links: Iterable[str] = (),
    actor: Actor,
    now: datetime | None = None,
) -> OnboardingStep:
    """Step 9a: ask Meta for the Official Business Account badge; the step then waits on Meta."""
    now = _now(now)
    errors: dict[str, list] = {}
    try:
        URLValidator(schemes=["http", "https"])(website_url or "")
    except ValidationError:
        errors["website_url"] = [_("Enter the business website, starting with https://.")]
    if not (len(country or "") == 2 and country.isalpha()):
        errors["country"] = [_("Use the two-letter country code, e.g. DE.")]
    if not (language or "").strip():
        errors["language"] = [_("Name the primary language, e.g. German.")]
    if errors:
        raise ValidationError(errors)
    _check_actionable("badge", _steps_of(onboarding))
    phone_number_id = _require_number_id(onboarding)
    _call(
        client_for(onboarding).request_official_business_account,
        phone_number_id,
        business_website_url=website_url,
        primary_country_of_operation=country.upper(),
        primary_language=language.strip(),
        supporting_links=[link for link in supporting_links if link],
    )
    with transaction.atomic():
        locked, by_key = _locked(onboarding)
        step = _check_actionable("badge", by_key)
        locked.badge_requested_at = now
        locked.save(update_fields=["badge_requested_at"])
        step.state = State.WAITING
        step.blocked_reason = ""
        _append_note(step, _("Badge requested."), now)
        step.save()
        return step


def refresh_badge(onboarding: Onboarding, *, actor: Actor, now: datetime | None = None) -> bool:
    """Step 9b: ask Meta whether the badge was granted; completes the step if so. Returns it."""
    now = _now(now)
    _check_actionable("badge", _steps_of(onboarding))
    if onboarding.badge_requested_at is None:
        raise OnboardingError(_("Request the badge first."))
    number = _call(
        client_for(onboarding).get_phone_number,
        _require_number_id(onboarding),
        fields=["is_official_business_account"],
    )
    if not number.get("is_official_business_account"):
        return False
    with transaction.atomic():
        locked, by_key = _locked(onboarding)
        _complete(locked, by_key, "badge", actor=actor, now=now, note=str(_("Badge granted.")))
    return True


# --- step 10: templates --------------------------------------------------------------------------
def submit_templates(
    onboarding: Onboarding, *, actor: Actor, now: datetime | None = None
) -> tuple[int, list[str]]:
    """Step 10a: submit every draft template of the channel for Meta's review.

    Returns how many were submitted and the refusals (one sentence each); the step waits on
    Meta once at least one was submitted.
    """
    now = _now(now)
    _check_actionable("templates", _steps_of(onboarding))
    if onboarding.channel_id is None:
        raise StepOutOfOrder(_("The channel does not exist yet (step 7)."))
    drafts = list(
        onboarding.channel.templates.filter(status=MessageTemplate.Status.DRAFT).select_related(
            "channel"
        )
    )
    if not drafts:
        raise OnboardingError(_("Write at least one draft under Message templates first."))
    submitted, refusals = 0, []
    for draft in drafts:
        try:
            template_services.submit_template(draft)
            submitted += 1
        except (template_services.TemplateError, ValidationError) as error:
            refusals.append(f"{draft.name}: {getattr(error, 'message', error)}")
    if submitted:
        mark_waiting(onboarding, key="templates", actor=actor, now=now)
    return submitted, refusals


def refresh_templates(
    onboarding: Onboarding, *, actor: Actor, now: datetime | None = None
) -> TemplateProgress:
    """Step 10b: pull the templates' review status from Meta; the step is done once at least one
    template is approved and none is still pending."""
    now = _now(now)
    _check_actionable("templates", _steps_of(onboarding))
    if onboarding.channel_id is None:
        raise StepOutOfOrder(_("The channel does not exist yet (step 7)."))
    channel = onboarding.channel
    _call(template_services.sync_templates, channel)
    Status = MessageTemplate.Status
    statuses = list(channel.templates.values_list("status", flat=True))
    progress = TemplateProgress(
        approved=sum(s in MessageTemplate.SENDABLE for s in statuses),
        pending=statuses.count(Status.PENDING),
        rejected=statuses.count(Status.REJECTED),
        drafts=statuses.count(Status.DRAFT),
    )
    if progress.approved and not progress.pending:
        with transaction.atomic():
            locked, by_key = _locked(onboarding)
            _complete(locked, by_key, "templates", actor=actor, now=now)
    return progress


# --- overdue -------------------------------------------------------------------------------------
def flag_overdue(*, now: datetime | None = None) -> tuple[int, int]:
    """Set ``is_overdue`` on running steps past their expected wait (business time), clear it on
    the others; returns (newly flagged, cleared). A constant number of queries.

    SQL narrows to steps whose wait has passed in real time (business time is never longer);
    the business-day count runs on those few rows only. The UPDATEs re-state their conditions so
    a step completed meanwhile is left alone.
    """
    now = _now(now)
    candidates = OnboardingStep.objects.possibly_overdue(now).only(
        "id", "key", "state", "waiting_since", "onboarding_id"
    )
    overdue = [s for s in candidates if s.is_overdue_at(now)]
    running = OnboardingStep.objects.running()
    flagged = running.filter(pk__in=[s.pk for s in overdue], is_overdue=False).update(
        is_overdue=True
    )
    cleared = (
        OnboardingStep.objects.filter(is_overdue=True)
        .exclude(pk__in=[s.pk for s in overdue])
        .update(is_overdue=False)
    )
    if flagged:
        logger.warning(
            "%d onboarding step(s) newly overdue: %s",
            flagged,
            ", ".join(f"onboarding {s.onboarding_id} {s.key}" for s in overdue),
        )
    return flagged, cleared
