"""The ten onboarding steps, defined once as data (DESIGN.md section 1, "Onboarding").

Every onboarding gets one OnboardingStep row per entry here. The order, the actor who must act,
the usual wait and the prerequisites live only in this module; services, the admin and the
status command read them from here. See docs/onboarding.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext


class Actor(models.TextChoices):
    CUSTOMER = "customer", _("Customer organisation")
    PLATFORM = "platform", _("Platform operator")
    META = "meta", _("Meta")


@dataclass(frozen=True)
class Wait:
    """An expected wait, counted in business time (Monday to Friday, whole days)."""

    business_days: int = 0
    hours: int = 0

    @property
    def duration(self) -> timedelta:
        # Both units are business time: 48 hours started on Friday evening end on Tuesday evening.
        return timedelta(days=self.business_days, hours=self.hours)

    def __str__(self) -> str:
        if self.business_days:
            return ngettext("%(n)d business day", "%(n)d business days", self.business_days) % {
                "n": self.business_days
            }
        return ngettext("%(n)d hour", "%(n)d hours", self.hours) % {"n": self.hours}


@dataclass(frozen=True)
class StepDef:
    key: str
    order: int
    title: str
    actor: Actor
    expected_wait: Wait
    prerequisites: tuple[str, ...] = ()
    # Which admin action completes the step: "manual" (mark done), or a provider-API action.
    completed_by: str = "manual"
    help: str = ""
    # Who the step waits on once it is marked waiting (a request sent, a review running).
    waiting_on: Actor | None = None

    def actor_for(self, state: str) -> Actor:
        return (self.waiting_on or self.actor) if state == "waiting" else self.actor


# The article: "In several steps approvals by Facebook are needed, each can take 24-48 hours";
# the customer's and the operator's own steps "take only a few minutes", so one business day.
META_APPROVAL = Wait(hours=48)
ONE_DAY = Wait(business_days=1)
# The article: the whole process "typically takes 5-10 business days".
TYPICAL_TOTAL = Wait(business_days=10)

STEPS: tuple[StepDef, ...] = (
    StepDef(
        "terms",
        1,
        _("Agreement signed and WhatsApp Business terms accepted"),
        Actor.CUSTOMER,
        ONE_DAY,
        (),
        "record_terms",
        _("Who signed the agreement and who accepted www.whatsapp.com/legal/business-terms."),
    ),
    StepDef(
        "details",
        2,
        _("Phone number, Business Manager ID and display name submitted"),
        Actor.CUSTOMER,
        ONE_DAY,
        ("terms",),
        "manual",
        _("A landline must be able to switch off its IVR while the code call comes in."),
    ),
    StepDef(
        "account_created",
        3,
        _("WhatsApp Business account created for the number and display name"),
        Actor.PLATFORM,
        ONE_DAY,
        ("details",),
        "add_number",
        _("Adds the number with its display name to the operator's WhatsApp Business account."),
        Actor.META,
    ),
    StepDef(
        "request_approved",
        4,
        _("Operator's request approved in Business Manager"),
        Actor.CUSTOMER,
        ONE_DAY,
        ("account_created",),
        "manual",
        _("Business Manager → Requests tab → approve the operator's request."),
    ),
    StepDef(
        "business_verified",
        5,
        _("Business verification completed in the Security Center"),
        Actor.CUSTOMER,
        META_APPROVAL,
        ("request_approved",),
        "manual",
        _("Business settings → Security Center → Verification; Meta reviews it."),
        Actor.META,
    ),
    StepDef(
        "number_verified",
        6,
        _("Phone number verified with a 6-digit code"),
        Actor.CUSTOMER,
        META_APPROVAL,
        ("business_verified",),
        "verify_code",
        _("SMS for mobile numbers, an automated voice call for landlines; valid 10 minutes."),
    ),
    StepDef(
        "activated",
        7,
        _("Account activated and linked (the channel appears)"),
        Actor.PLATFORM,
        ONE_DAY,
        ("number_verified",),
        "register",
        _("Registers the number for the Cloud API and creates or activates the channel."),
    ),
    StepDef(
        "profile",
        8,
        _("Business information and logo added to the WhatsApp profile"),
        Actor.CUSTOMER,
        ONE_DAY,
        ("activated",),
        "set_profile",
        _("Logo: JPEG or PNG, at most 5 MB."),
    ),
    StepDef(
        "badge",
        9,
        _("Verified-business badge requested and granted"),
        Actor.PLATFORM,
        META_APPROVAL,
        ("profile",),
        "badge",
        _("The operator requests it; Meta decides (after a refusal, apply again in 30 days)."),
        Actor.META,
    ),
    StepDef(
        "templates",
        10,
        _("Message templates (HSMs) submitted and approved"),
        Actor.CUSTOMER,
        META_APPROVAL,
        ("activated",),
        "templates",
        _("Write drafts under Message templates, submit them here, then refresh their status."),
        Actor.META,
    ),
)

BY_KEY: dict[str, StepDef] = {step.key: step for step in STEPS}
KEYS = tuple(BY_KEY)
COUNT = len(STEPS)

assert [s.order for s in STEPS] == list(range(1, COUNT + 1))
assert all(p in BY_KEY and BY_KEY[p].order < s.order for s in STEPS for p in s.prerequisites)


def get(key: str) -> StepDef:
    return BY_KEY[key]
