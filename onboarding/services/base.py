"""The onboarding services' shared parts: loading and locking the checklist, completing a step,
the provider client and its refusals.

Every state change of an onboarding goes through the package onboarding.services:

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

import logging
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from channels_app.whatsapp.client import WhatsAppClient
from channels_app.whatsapp.errors import WhatsAppError
from onboarding import steps
from onboarding.models import (
    Onboarding,
    OnboardingStep,
)
from onboarding.services.errors import (
    OnboardingError,
    ProviderRefused,
    StepAlreadyDone,
    StepOutOfOrder,
)

logger = logging.getLogger(__name__)

Actor = AbstractBaseUser | None
State = OnboardingStep.State


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
