"""Business hours, holidays, auto-responders, SLA policies and their clocks, CSAT surveys.

Every timer here is a due-time column swept by a periodic job (service_levels.sweep); nothing is
delayed in the broker. docs/service-levels.md tells the rules.
"""

from __future__ import annotations

import zoneinfo
from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from channels_app.models import Channel, MessageTemplate
from conversations.models import Contact, Conversation, Tag

TIME_ZONES = [(name, name) for name in sorted(zoneinfo.available_timezones())]
WEEKDAYS = [
    (0, _("Monday")),
    (1, _("Tuesday")),
    (2, _("Wednesday")),
    (3, _("Thursday")),
    (4, _("Friday")),
    (5, _("Saturday")),
    (6, _("Sunday")),
]


class HolidaySet(models.Model):
    """Days off shared by channels (a set per country or team)."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    for_onboarding = models.BooleanField(
        _("count for the onboarding checklist"),
        default=False,
        help_text=_(
            "The onboarding checklist's business days skip these holidays as well as weekends."
        ),
    )

    class Meta:
        verbose_name = _("holiday set")
        verbose_name_plural = _("holiday sets")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Holiday(models.Model):
    holiday_set = models.ForeignKey(
        HolidaySet, on_delete=models.CASCADE, related_name="holidays", verbose_name=_("set")
    )
    name = models.CharField(_("name"), max_length=100)
    date = models.DateField(_("date"))
    yearly = models.BooleanField(
        _("every year"), default=False, help_text=_("The same day and month every year.")
    )

    class Meta:
        verbose_name = _("holiday")
        verbose_name_plural = _("holidays")
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.name} ({self.date:%m-%d})" if self.yearly else f"{self.name} ({self.date})"


class ServiceSettings(models.Model):
    """A channel's business hours, auto-responders and CSAT survey (one row per channel; a
    channel without one is open around the clock and sends nothing on its own)."""

    channel = models.OneToOneField(
        Channel,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="service_settings",
        verbose_name=_("channel"),
    )
    hours_enabled = models.BooleanField(
        _("business hours"),
        default=True,
        help_text=_("When off, the channel counts as open around the clock."),
    )
    time_zone = models.CharField(
        _("time zone"), max_length=64, choices=TIME_ZONES, default=settings.TIME_ZONE
    )
    holiday_sets = models.ManyToManyField(
        HolidaySet, blank=True, related_name="channels", verbose_name=_("holiday sets")
    )

    away_enabled = models.BooleanField(_("away message"), default=False)
    away_text = models.TextField(
        _("away message text"),
        blank=True,
        help_text=_(
            "Sent once per closed period when a customer writes while the channel is closed."
        ),
    )
    away_template = models.ForeignKey(
        MessageTemplate,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("away template"),
        help_text=_("Sent instead of the text when the 24-hour window is closed; empty: nothing."),
    )
    greeting_enabled = models.BooleanField(_("greeting"), default=False)
    greeting_text = models.TextField(
        _("greeting text"),
        blank=True,
        help_text=_("Sent when a customer opens a new conversation."),
    )

    csat_enabled = models.BooleanField(_("CSAT survey"), default=False)
    csat_sample_percent = models.PositiveSmallIntegerField(
        _("surveyed share (%)"),
        default=100,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    csat_delay = models.DurationField(
        _("survey delay"),
        default=timedelta(minutes=10),
        help_text=_("After an agent resolves; a reopen cancels the survey."),
    )
    csat_question = models.CharField(
        _("survey question"),
        max_length=1024,
        default="How satisfied are you with our help? 1 = not at all, 5 = very.",
    )
    csat_template = models.ForeignKey(
        MessageTemplate,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("survey template"),
        help_text=_("Sent when the 24-hour window is closed; empty: no survey then."),
    )
    csat_comment_question = models.CharField(
        _("comment question"),
        max_length=1024,
        blank=True,
        help_text=_("Asked after the score; the customer's next message is kept as the comment."),
    )

    class Meta:
        verbose_name = _("channel service settings")
        verbose_name_plural = _("channel service settings")

    def __str__(self) -> str:
        return str(self.channel)


class BusinessInterval(models.Model):
    """Open from ``opens`` to ``closes`` on a weekday; ``closes`` at or before ``opens`` runs
    into the next day (22:00-06:00), and equal times mean the whole 24 hours."""

    settings = models.ForeignKey(
        ServiceSettings, on_delete=models.CASCADE, related_name="intervals"
    )
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=WEEKDAYS)
    opens = models.TimeField(_("opens"))
    closes = models.TimeField(_("closes"))

    class Meta:
        verbose_name = _("opening interval")
        verbose_name_plural = _("opening intervals")
        ordering = ["weekday", "opens"]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.opens:%H:%M}-{self.closes:%H:%M}"


class SlaPolicy(models.Model):
    """Response and resolution targets of a channel, or of its conversations with a tag."""

    channel = models.ForeignKey(
        Channel, on_delete=models.CASCADE, related_name="sla_policies", verbose_name=_("channel")
    )
    tag = models.ForeignKey(
        Tag,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("tag"),
        help_text=_("Only conversations with this tag; empty: every conversation of the channel."),
    )
    first_response = models.DurationField(_("first response within"), null=True, blank=True)
    next_response = models.DurationField(_("next response within"), null=True, blank=True)
    resolution = models.DurationField(_("resolution within"), null=True, blank=True)
    business_hours = models.BooleanField(
        _("count business hours only"),
        default=True,
        help_text=_("When off, the clock runs around the clock (calendar time)."),
    )
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("SLA policy")
        verbose_name_plural = _("SLA policies")
        ordering = ["channel", "tag"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "tag"], name="sla_policy_per_tag"),
            models.UniqueConstraint(
                fields=["channel"], condition=Q(tag__isnull=True), name="sla_policy_per_channel"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} · {self.tag}" if self.tag_id else str(self.channel)

    def target(self, kind: str) -> timedelta | None:
        return getattr(self, kind, None) if kind in SlaTarget.POLICY_KINDS else None


class SlaTarget(models.Model):
    """One clock of one conversation: a target that runs, pauses, is met or breached.

    ``alert_at`` is the due-time column the sweep reads: the warning moment (80 %) until the
    warning is recorded, then the due moment until the breach is; NULL while paused or closed.
    """

    class Kind(models.TextChoices):
        FIRST_RESPONSE = "first_response", _("First response")
        NEXT_RESPONSE = "next_response", _("Next response")
        RESOLUTION = "resolution", _("Resolution")
        # Not a policy target: the 24-hour window of a conversation waiting for the desk's
        # reply; alerts one hour before it closes (never in the % met figures).
        WINDOW = "window", _("24-hour window")

    POLICY_KINDS = ("first_response", "next_response", "resolution")

    class State(models.TextChoices):
        RUNNING = "running", _("Running")
        PAUSED = "paused", _("Paused")
        MET = "met", _("Met")
        CLOSED = "closed", _("Closed unanswered")

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+", db_index=False)
    policy = models.ForeignKey(
        SlaPolicy, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(_("target"), max_length=16, choices=Kind.choices)
    state = models.CharField(_("state"), max_length=8, choices=State.choices)
    business = models.BooleanField(_("business hours"), default=False)
    target_s = models.FloatField(_("target (s)"))
    started_at = models.DateTimeField(_("started"))
    warn_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(_("due"), null=True, blank=True)
    remaining_s = models.FloatField(null=True, blank=True)  # while paused
    alert_at = models.DateTimeField(null=True, blank=True)
    warned_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(_("breached"), null=True, blank=True)
    met_at = models.DateTimeField(_("met"), null=True, blank=True)
    # Who met it, or who held the conversation when it breached (the reports' agent).
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,
    )
    # When it was met or breached, whichever came first (the reports' period).
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("SLA clock")
        verbose_name_plural = _("SLA clocks")
        indexes = [
            models.Index(fields=["conversation", "kind"], name="sla_target_conv"),
            # The sweep: the few rows whose next alert is due, oldest first.
            models.Index(
                fields=["alert_at"], condition=Q(alert_at__isnull=False), name="sla_target_alert"
            ),
            models.Index(fields=["channel", "settled_at"], name="sla_target_report"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "kind"],
                condition=Q(state__in=["running", "paused"]),
                name="sla_one_live_target_per_kind",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of #{self.conversation_id} ({self.state})"


class AutoReply(models.Model):
    """An away message or greeting sent (or decided against) for a conversation; the unique key
    makes it once per closed period (``period`` = when the channel opens again) or once per
    conversation (greeting: ``period`` = the conversation's opening)."""

    class Kind(models.TextChoices):
        AWAY = "away", _("Away message")
        GREETING = "greeting", _("Greeting")

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    period = models.DateTimeField()
    # The message sent (no database-level key to the partitioned messages); NULL = nothing sent
    # (window closed and no template).
    message_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "kind", "period"], name="auto_reply_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} of #{self.conversation_id}"


class CsatSurvey(models.Model):
    class State(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        SENT = "sent", _("Sent")
        ANSWERED = "answered", _("Answered")
        CANCELLED = "cancelled", _("Cancelled")
        SKIPPED = "skipped", _("Not sent (window closed, no template)")

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="+", verbose_name=_("conversation")
    )
    channel = models.ForeignKey(
        Channel,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        verbose_name=_("channel"),
    )
    contact = models.ForeignKey(
        Contact,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        verbose_name=_("contact"),
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        db_index=False,
        verbose_name=_("resolved by"),
    )
    state = models.CharField(_("state"), max_length=10, choices=State.choices)
    resolved_at = models.DateTimeField(_("resolved"))
    due_at = models.DateTimeField(_("due"))
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    message_id = models.BigIntegerField(null=True, blank=True)
    score = models.PositiveSmallIntegerField(_("score"), null=True, blank=True)
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)
    comment = models.TextField(_("comment"), blank=True)
    # The customer's next message until then is the comment (when a comment question is set).
    comment_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("CSAT survey")
        verbose_name_plural = _("CSAT surveys")
        indexes = [
            models.Index(fields=["due_at"], condition=Q(state="scheduled"), name="csat_due"),
            models.Index(fields=["contact", "channel", "resolved_at"], name="csat_contact"),
            models.Index(fields=["channel", "resolved_at"], name="csat_report"),
        ]

    def __str__(self) -> str:
        return f"CSAT of #{self.conversation_id} ({self.state})"
