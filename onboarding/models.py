"""The onboarding checklist: one Onboarding per requested WhatsApp number, ten OnboardingSteps.

Models hold data, constraints and pure single-row facts that take ``now``; every state change is
in onboarding/services.py. See docs/onboarding.md.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from channels_app.encryption import EncryptedTextField
from onboarding import business_time, steps
from onboarding.business_time import add_business_time, business_elapsed
from onboarding.validation import (
    NumberKind,
    validate_business_manager_id,
    validate_display_name,
    validate_phone_number,
)

# Meta: a verification code is valid 10 minutes (the article: "nur 10 Minuten gültig").
CODE_VALIDITY = timedelta(minutes=10)
# Checked by the desk before the API is asked, so a guessing admin never burns Meta's own limit.
MAX_CODE_ATTEMPTS = 5
MAX_CODE_REQUESTS_PER_HOUR = 5


class Onboarding(models.Model):
    class CodeMethod(models.TextChoices):
        SMS = "SMS", _("Text message (SMS)")
        VOICE = "VOICE", _("Automated voice call")

    class NumberType(models.TextChoices):
        MOBILE = NumberKind.MOBILE, _("Mobile")
        FIXED_LINE = NumberKind.FIXED_LINE, _("Landline")
        FIXED_LINE_OR_MOBILE = NumberKind.FIXED_LINE_OR_MOBILE, _("Landline or mobile")
        OTHER = NumberKind.OTHER, _("Other")

    phone_number = models.CharField(
        _("phone number"),
        max_length=16,
        unique=True,
        validators=[validate_phone_number],
        help_text=_("International format, e.g. +49 30 1234567; stored as E.164."),
    )
    number_type = models.CharField(
        _("number type"), max_length=24, choices=NumberType.choices, default=NumberType.OTHER
    )
    code_method = models.CharField(
        _("verification code by"),
        max_length=5,
        choices=CodeMethod.choices,
        default=CodeMethod.SMS,
        help_text=_("Mobile numbers get an SMS, landlines an automated voice call."),
    )
    business_manager_id = models.CharField(
        _("Business Manager ID"),
        max_length=20,
        validators=[validate_business_manager_id],
        help_text=_("Digits only: Business settings → Business info."),
    )
    display_name = models.CharField(
        _("display name"),
        max_length=255,
        validators=[validate_display_name],
        help_text=_("The name WhatsApp shows for the number; Meta reviews it."),
    )

    agreement_signed_by = models.CharField(_("agreement signed by"), max_length=200, blank=True)
    agreement_signed_at = models.DateTimeField(_("agreement signed at"), null=True, blank=True)
    terms_accepted_by = models.CharField(
        _("WhatsApp Business terms accepted by"), max_length=200, blank=True
    )
    terms_accepted_at = models.DateTimeField(_("terms accepted at"), null=True, blank=True)

    waba_id = models.CharField(_("WhatsApp Business account ID"), max_length=64, blank=True)
    phone_number_id = models.CharField(
        _("phone number ID"), max_length=64, blank=True, null=True, unique=True
    )
    # The operator's token for the API steps until the channel exists; then it moves to the
    # channel and this field is emptied. Never logged, never shown again after saving, encrypted
    # at rest.
    access_token = EncryptedTextField(_("access token"), blank=True)
    channel = models.OneToOneField(
        "channels_app.Channel",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="onboarding",
        verbose_name=_("channel"),
    )
    badge_requested_at = models.DateTimeField(_("badge requested at"), null=True, blank=True)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)

    class Meta:
        verbose_name = _("WhatsApp onboarding")
        verbose_name_plural = _("WhatsApp onboardings")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.phone_number})"

    def days_open(self, now: datetime) -> int:
        return max(0, ((self.completed_at or now) - self.created_at).days)

    def is_overdue_overall(self, now: datetime) -> bool:
        """Open longer than the article's typical 5-10 business days."""
        return self.completed_at is None and (
            business_elapsed(self.created_at, now, is_holiday=business_time.holiday_rule())
            > steps.TYPICAL_TOTAL.duration
        )


class OnboardingStepQuerySet(models.QuerySet):
    def todo(self):
        return self.exclude(state=OnboardingStep.State.DONE)

    def running(self):
        """Steps whose clock runs: started (prerequisites done) and neither done nor blocked."""
        return self.filter(
            state__in=[OnboardingStep.State.TODO, OnboardingStep.State.WAITING],
            waiting_since__isnull=False,
        )

    def possibly_overdue(self, now: datetime):
        """A superset of overdue steps in SQL: business time never exceeds real time."""
        started_before = Q()
        for step in steps.STEPS:
            started_before |= Q(key=step.key, waiting_since__lt=now - step.expected_wait.duration)
        return self.running().filter(started_before)


class OnboardingStep(models.Model):
    class State(models.TextChoices):
        TODO = "todo", _("To do")
        WAITING = "waiting", _("Waiting")
        DONE = "done", _("Done")
        BLOCKED = "blocked", _("Blocked")

    onboarding = models.ForeignKey(
        Onboarding, on_delete=models.CASCADE, related_name="steps", verbose_name=_("onboarding")
    )
    key = models.CharField(_("step"), max_length=32, choices=[(k, k) for k in steps.KEYS])
    order = models.PositiveSmallIntegerField(_("order"))
    state = models.CharField(_("state"), max_length=8, choices=State.choices, default=State.TODO)
    blocked_reason = models.TextField(_("blocked because"), blank=True)
    # When the step became someone's turn (its prerequisites done, or unblocked); its expected
    # wait counts from here in business time.
    waiting_since = models.DateTimeField(_("started"), null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("completed by"),
    )
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    # Maintained by tasks.check_overdue for alerting; pages compute it afresh from ``now``.
    is_overdue = models.BooleanField(_("overdue"), default=False)

    objects = OnboardingStepQuerySet.as_manager()

    class Meta:
        verbose_name = _("onboarding step")
        verbose_name_plural = _("onboarding steps")
        ordering = ["onboarding", "order"]
        constraints = [
            models.UniqueConstraint(fields=["onboarding", "key"], name="one_step_per_key"),
            models.CheckConstraint(
                condition=~Q(state="done") | Q(completed_at__isnull=False),
                name="done_step_has_completion_time",
            ),
            models.CheckConstraint(
                condition=~Q(state="blocked") | ~Q(blocked_reason=""),
                name="blocked_step_has_reason",
            ),
        ]
        indexes = [
            # tasks.check_overdue scans the steps whose clock runs.
            models.Index(
                fields=["state", "waiting_since"],
                condition=Q(state__in=["todo", "waiting"]),
                name="onb_step_running",
            )
        ]

    def __str__(self) -> str:
        return f"{self.order}. {self.definition.title}"

    @property
    def definition(self) -> steps.StepDef:
        return steps.get(self.key)

    @property
    def is_done(self) -> bool:
        return self.state == self.State.DONE

    def next_actor(self) -> steps.Actor:
        return self.definition.actor_for(self.state)

    def due_at(self) -> datetime | None:
        if self.waiting_since is None or self.state in (self.State.DONE, self.State.BLOCKED):
            return None
        return add_business_time(
            self.waiting_since,
            self.definition.expected_wait.duration,
            is_holiday=business_time.holiday_rule(),
        )

    def is_overdue_at(self, now: datetime) -> bool:
        """Started, not done or blocked, and past its expected wait counted in business time."""
        if self.waiting_since is None or self.state in (self.State.DONE, self.State.BLOCKED):
            return False
        elapsed = business_elapsed(
            self.waiting_since, now, is_holiday=business_time.holiday_rule()
        )
        return elapsed > self.definition.expected_wait.duration


class CodeRequest(models.Model):
    """A verification code the desk asked Meta to send; the code itself is never stored."""

    onboarding = models.ForeignKey(
        Onboarding,
        on_delete=models.CASCADE,
        related_name="code_requests",
        verbose_name=_("onboarding"),
    )
    method = models.CharField(_("sent by"), max_length=5, choices=Onboarding.CodeMethod.choices)
    requested_at = models.DateTimeField(_("requested at"))
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    verified_at = models.DateTimeField(_("verified at"), null=True, blank=True)

    class Meta:
        verbose_name = _("verification code request")
        verbose_name_plural = _("verification code requests")
        ordering = ["-requested_at", "-id"]
        get_latest_by = "requested_at"

    def __str__(self) -> str:
        return f"{self.method} {self.requested_at:%Y-%m-%d %H:%M}"

    def expires_at(self) -> datetime:
        return self.requested_at + CODE_VALIDITY

    def is_expired(self, now: datetime) -> bool:
        return now > self.expires_at()

    def attempts_left(self) -> int:
        return max(0, MAX_CODE_ATTEMPTS - self.attempts)
