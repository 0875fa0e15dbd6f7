from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from channels_app.encryption import EncryptedTextField
from channels_app.roles import GRANTABLE_ROLES, Role

DEFAULT_AUTO_RESOLVE = timedelta(days=30)


def default_auto_resolve() -> timedelta:
    return DEFAULT_AUTO_RESOLVE


class ChannelManager(models.Manager):
    def active_at(self, kind: str, numbers: set[str]) -> dict[str, Channel]:
        """The active channels of ``kind`` at these provider addresses (WhatsApp: phone number
        ids), by address, loaded with the three columns webhooks need (the rest load on access).

        Raw SQL: built through the ORM, this query cost four times what the read itself costs,
        on every webhook.
        """
        if not numbers:
            return {}
        placeholders = ", ".join(["%s"] * len(numbers))
        channels = self.raw(
            f"SELECT id, kind, phone_number_id FROM {self.model._meta.db_table} "  # noqa: S608
            f"WHERE phone_number_id IN ({placeholders}) AND kind = %s AND is_active",
            [*numbers, kind],
        )
        return {c.phone_number_id: c for c in channels}

    def active_whatsapp(self, numbers: set[str]) -> dict[str, Channel]:
        return self.active_at(Channel.Kind.WHATSAPP, numbers)


class Channel(models.Model):
    """One connected messaging account (a WhatsApp Business number) and its desk settings."""

    class Kind(models.TextChoices):
        WHATSAPP = "whatsapp", _("WhatsApp")

    kind = models.CharField(
        _("kind"), max_length=20, choices=Kind.choices, default=Kind.WHATSAPP
    )
    display_name = models.CharField(
        _("custom display name"),
        max_length=255,
        help_text=_("What every user sees in the channel picker of the conversation views."),
    )
    is_active = models.BooleanField(
        _("active"),
        default=True,
        help_text=_("Inactive channels receive no messages and are hidden from the inbox."),
    )
    auto_assign = models.BooleanField(
        _("auto-assign"),
        default=True,
        help_text=_(
            "When on, an agent who replies to an unassigned conversation becomes its assignee. "
            "When off, conversations are assigned by hand."
        ),
    )
    class ReadReceipts(models.TextChoices):
        ON_OPEN = "on_open", _("When an agent opens the conversation")
        ON_REPLY = "on_reply", _("When an agent replies")
        NEVER = "never", _("Never")

    # When the customer's messages get WhatsApp's blue ticks (composer/receipts.py); the typing
    # indicator, which marks read as well, follows the same rule.
    read_receipts = models.CharField(
        _("read receipts"),
        max_length=8,
        choices=ReadReceipts.choices,
        default=ReadReceipts.ON_OPEN,
        # A database default too, so the raw inserts of the benchmarks' seeds need not name it.
        db_default=ReadReceipts.ON_OPEN,
        help_text=_(
            "When the customer sees blue ticks on their messages (and “typing…” while an agent "
            "writes): as soon as an agent opens the conversation, only once an agent replies, "
            "or never."
        ),
    )
    auto_resolve_new_after = models.DurationField(
        _("auto-resolve New after"),
        null=True,
        blank=True,
        default=default_auto_resolve,
        help_text=_(
            "Conversations waiting in New longer than this are resolved automatically. "
            "Empty switches it off."
        ),
    )
    auto_resolve_pending_after = models.DurationField(
        _("auto-resolve Pending after"),
        null=True,
        blank=True,
        default=default_auto_resolve,
        help_text=_(
            "Conversations waiting in Pending longer than this are resolved automatically. "
            "Empty switches it off."
        ),
    )
    all_users_enabled = models.BooleanField(
        _("all users"), default=False, help_text=_("Every user has access to this channel.")
    )
    all_users_role = models.PositiveSmallIntegerField(
        _("role for all users"),
        choices=[(r.value, r.label) for r in GRANTABLE_ROLES],
        default=Role.VIEWER,
    )
    all_teams_enabled = models.BooleanField(
        _("all teams"),
        default=False,
        help_text=_("Every member of any team has access to this channel."),
    )
    all_teams_role = models.PositiveSmallIntegerField(
        _("role for all teams"),
        choices=[(r.value, r.label) for r in GRANTABLE_ROLES],
        default=Role.VIEWER,
    )

    # WhatsApp identity, set by onboarding or the provider; read-only in the admin.
    phone_number_id = models.CharField(
        _("phone number ID"), max_length=64, blank=True, null=True, unique=True
    )
    waba_id = models.CharField(_("WhatsApp Business account ID"), max_length=64, blank=True)
    display_phone_number = models.CharField(_("display phone number"), max_length=32, blank=True)
    verified_name = models.CharField(_("verified name"), max_length=255, blank=True)
    # The bearer token for the Cloud API. Never logged, never shown again after saving, encrypted
    # at rest (channels_app/encryption.py).
    access_token = EncryptedTextField(_("access token"), blank=True)

    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    objects = ChannelManager()

    class Meta:
        verbose_name = _("channel")
        verbose_name_plural = _("channels")
        ordering = ["display_name", "id"]
        permissions = [("administer_channels", _("Can administer every channel"))]

    def __str__(self) -> str:
        return self.display_name

    def auto_resolve_after(self, status: str) -> timedelta | None:
        """The age limit for a queue ("new" or "pending"), or None when switched off."""
        return {"new": self.auto_resolve_new_after, "pending": self.auto_resolve_pending_after}.get(
            status
        )


class Team(models.Model):
    name = models.CharField(_("name"), max_length=150, unique=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        related_name="desk_teams",
        blank=True,
        verbose_name=_("members"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AccessGrant(models.Model):
    """A channel grants a role to exactly one user or one team."""

    channel = models.ForeignKey(
        Channel, on_delete=models.CASCADE, related_name="grants", verbose_name=_("channel")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="channel_grants",
        verbose_name=_("user"),
    )
    team = models.ForeignKey(
        Team,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="channel_grants",
        verbose_name=_("team"),
    )
    role = models.PositiveSmallIntegerField(
        _("role"), choices=[(r.value, r.label) for r in GRANTABLE_ROLES], default=Role.VIEWER
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("access grant")
        verbose_name_plural = _("access grants")
        constraints = [
            models.CheckConstraint(
                condition=(Q(user__isnull=False) & Q(team__isnull=True))
                | (Q(user__isnull=True) & Q(team__isnull=False)),
                name="grant_names_exactly_one_user_or_team",
                violation_error_message=_("A grant names either a user or a team, not both."),
            ),
            models.UniqueConstraint(
                fields=["channel", "user"],
                condition=Q(user__isnull=False),
                name="one_grant_per_channel_user",
                violation_error_message=_("This user already has a grant on this channel."),
            ),
            models.UniqueConstraint(
                fields=["channel", "team"],
                condition=Q(team__isnull=False),
                name="one_grant_per_channel_team",
                violation_error_message=_("This team already has a grant on this channel."),
            ),
            models.CheckConstraint(
                condition=Q(role__in=[r.value for r in GRANTABLE_ROLES]),
                name="grant_role_is_grantable",
            ),
        ]
        indexes = [
            # access._effective_role_expression looks grants up by user and by team.
            models.Index(fields=["user", "channel"], name="grant_by_user"),
            models.Index(fields=["team", "channel"], name="grant_by_team"),
        ]

    def __str__(self) -> str:
        who = self.user if self.user_id else self.team
        return f"{who} → {self.channel}: {self.get_role_display()}"


class Profile(models.Model):
    """Per-user preferences: the time zone that reports and timestamps are shown in."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="desk_profile"
    )
    time_zone = models.CharField(_("time zone"), max_length=64, default="UTC")

    class Meta:
        verbose_name = _("profile")
        verbose_name_plural = _("profiles")

    def __str__(self) -> str:
        return f"{self.user}: {self.time_zone}"


class MessageTemplate(models.Model):
    """A WhatsApp message template ("HSM") of a channel's business account."""

    class Status(models.TextChoices):
        # Written in the admin but not yet submitted to Meta for review.
        DRAFT = "DRAFT", _("Draft (not submitted)")
        PENDING = "PENDING", _("Pending review")
        APPROVED = "APPROVED", _("Approved")
        REJECTED = "REJECTED", _("Rejected")
        IN_APPEAL = "IN_APPEAL", _("In appeal")
        PAUSED = "PAUSED", _("Paused")
        DISABLED = "DISABLED", _("Disabled")
        FLAGGED = "FLAGGED", _("Flagged")
        PENDING_DELETION = "PENDING_DELETION", _("Pending deletion")
        DELETED = "DELETED", _("Deleted")
        ARCHIVED = "ARCHIVED", _("Archived")
        LIMIT_EXCEEDED = "LIMIT_EXCEEDED", _("Limit exceeded")
        OTHER = "OTHER", _("Other")

    class Category(models.TextChoices):
        MARKETING = "MARKETING", _("Marketing")
        UTILITY = "UTILITY", _("Utility")
        AUTHENTICATION = "AUTHENTICATION", _("Authentication")

    # Statuses in which Meta accepts a send (FLAGGED stays sendable until it is disabled).
    SENDABLE = (Status.APPROVED, Status.FLAGGED)

    channel = models.ForeignKey(
        Channel, on_delete=models.CASCADE, related_name="templates", verbose_name=_("channel")
    )
    provider_id = models.CharField(_("template ID"), max_length=64, blank=True)
    name = models.CharField(_("name"), max_length=512)
    language = models.CharField(_("language"), max_length=16)
    category = models.CharField(
        _("category"), max_length=32, choices=Category.choices, default=Category.UTILITY
    )
    status = models.CharField(
        _("status"), max_length=32, choices=Status.choices, default=Status.PENDING
    )
    components = models.JSONField(_("components"), default=list, blank=True)
    parameter_format = models.CharField(_("parameter format"), max_length=16, default="POSITIONAL")
    rejection_reason = models.CharField(_("rejection reason"), max_length=255, blank=True)
    quality_score = models.CharField(_("quality"), max_length=16, blank=True)
    # When Meta decided the status last applied from a webhook (its entry time): status events
    # arrive in any order, and an older one must not undo a newer one (template_services).
    status_event_at = models.DateTimeField(_("status event time"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        ordering = ["channel", "name", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "name", "language"], name="one_template_per_name_language"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.language})"

    @property
    def is_sendable(self) -> bool:
        return self.status in self.SENDABLE

    def body_text(self) -> str:
        for component in self.components or []:
            if str(component.get("type", "")).upper() == "BODY":
                return str(component.get("text", ""))
        return ""


# Channel health (channels_app.health): defined beside, registered with the app from here.
from channels_app.health_models import ChannelHealth, HealthEvent  # noqa: E402, F401
