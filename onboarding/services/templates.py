"""Step 10: the message templates submitted for review and their progress."""

from __future__ import annotations

import logging
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from channels_app import template_services
from channels_app.models import MessageTemplate
from onboarding.models import Onboarding
from onboarding.services.base import (
    Actor,
    _call,
    _check_actionable,
    _complete,
    _locked,
    _now,
    _steps_of,
)
from onboarding.services.details import mark_waiting
from onboarding.services.errors import (
    OnboardingError,
    StepOutOfOrder,
    TemplateProgress,
)

logger = logging.getLogger(__name__)

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
