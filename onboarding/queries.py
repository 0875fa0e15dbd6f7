"""Reads of onboardings, shaped for the admin list and the status command (no per-row queries)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, IntegerField, OuterRef, Prefetch, Subquery

from onboarding import steps
from onboarding.models import Onboarding, OnboardingStep


def onboardings_with_progress():
    """Onboardings with ``done_count`` annotated and their steps prefetched in order.

    Three queries for any number of rows (count, list, steps); ``status_of`` then works from the
    prefetched steps. The count is a subquery so the list query has no GROUP BY over a join.
    """
    done = (
        OnboardingStep.objects.filter(onboarding=OuterRef("pk"), state=OnboardingStep.State.DONE)
        .order_by()
        .values("onboarding")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        Onboarding.objects.select_related("channel")
        .annotate(done_count=Subquery(done, output_field=IntegerField()))
        .prefetch_related(Prefetch("steps", queryset=OnboardingStep.objects.order_by("order")))
    )


@dataclass(frozen=True)
class Status:
    done: int
    total: int
    current: OnboardingStep | None
    next_actor: steps.Actor | None
    overdue: list[OnboardingStep] = field(default_factory=list)
    blocked: list[OnboardingStep] = field(default_factory=list)
    days_open: int = 0
    overdue_overall: bool = False

    @property
    def complete(self) -> bool:
        return self.done == self.total


def status_of(onboarding: Onboarding, *, now: datetime) -> Status:
    """Progress, the current step and who must act, and what is overdue at ``now``.

    Uses ``onboarding.steps.all()``: prefetch them (onboardings_with_progress) in lists.
    """
    all_steps = list(onboarding.steps.all())
    open_steps = [s for s in all_steps if not s.is_done]
    # The current step is the first one whose turn it is; a later step can run in parallel
    # (templates after activation), but the lowest open order is what the admin works on.
    current = min(open_steps, key=lambda s: s.order, default=None)
    return Status(
        done=len(all_steps) - len(open_steps),
        total=steps.COUNT,
        current=current,
        next_actor=current.next_actor() if current else None,
        overdue=[s for s in open_steps if s.is_overdue_at(now)],
        blocked=[s for s in open_steps if s.state == OnboardingStep.State.BLOCKED],
        days_open=onboarding.days_open(now),
        overdue_overall=onboarding.is_overdue_overall(now),
    )
