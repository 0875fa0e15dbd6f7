"""Steps past their expected wait, counted in business time (onboarding/business_time.py)."""

from __future__ import annotations

import logging
from datetime import datetime

from onboarding.models import OnboardingStep
from onboarding.services.base import _now

logger = logging.getLogger(__name__)


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
