"""The onboarding's details (create, change) and the manual steps (terms, advance, wait, block)."""

from __future__ import annotations

import logging
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from onboarding import steps
from onboarding.models import (
    Onboarding,
    OnboardingStep,
)
from onboarding.services.base import (
    Actor,
    State,
    _append_note,
    _check_actionable,
    _complete,
    _locked,
    _now,
    _user,
)
from onboarding.services.errors import (
    StepAlreadyDone,
    WrongAction,
)
from onboarding.validation import (
    display_name_problems,
    parse_phone_number,
    validate_business_manager_id,
)

logger = logging.getLogger(__name__)

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
