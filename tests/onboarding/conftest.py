"""Onboarding fixtures: the WhatsApp emulator fixtures reused from tests/whatsapp, and helpers
that put an onboarding at a given step without the API (test data, not a service path)."""

from datetime import datetime

import pytest
from django.utils import timezone

from onboarding import steps
from onboarding.models import OnboardingStep

# The real emulator server and its per-test fixture, shared with the WhatsApp tests.
from tests.whatsapp.conftest import (  # noqa: F401
    _app_secret,
    _plain_http_live_server,
    emulator,
    emulator_server,
    wait_for,
)

PHONE_NUMBER_ID = "109876543299001"


def complete_through(onboarding, last_key: str, *, now: datetime | None = None, by=None):
    """Mark every step up to and including ``last_key`` done, and start the next ones."""
    now = now or timezone.now()
    last = steps.get(last_key).order
    OnboardingStep.objects.filter(onboarding=onboarding, order__lte=last).update(
        state=OnboardingStep.State.DONE, completed_at=now, completed_by=by, waiting_since=now
    )
    OnboardingStep.objects.filter(onboarding=onboarding, order__gt=last).update(waiting_since=None)
    for step in steps.STEPS:
        if step.order > last and all(steps.get(p).order <= last for p in step.prerequisites):
            OnboardingStep.objects.filter(onboarding=onboarding, key=step.key).update(
                waiting_since=now
            )
    if last >= steps.get("account_created").order and not onboarding.phone_number_id:
        onboarding.phone_number_id = f"{PHONE_NUMBER_ID[:10]}{onboarding.pk:05d}"
        onboarding.waba_id = "104455667788990"
        onboarding.save(update_fields=["phone_number_id", "waba_id"])
    onboarding.refresh_from_db()
    return onboarding


def snapshot(onboarding) -> tuple:
    """Everything a refused action must leave as it was."""
    onboarding.refresh_from_db()
    rows = tuple(
        OnboardingStep.objects.filter(onboarding=onboarding)
        .order_by("order")
        .values_list(
            "key", "state", "completed_at", "completed_by", "waiting_since", "blocked_reason"
        )
    )
    fields = tuple(getattr(onboarding, f.attname) for f in onboarding._meta.concrete_fields)
    return fields, rows


@pytest.fixture
def admin_user(db):
    from tests.factories import AdminUserFactory

    return AdminUserFactory(username="ona_admin")
