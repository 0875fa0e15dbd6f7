"""Routing's own state: agents' availability and capacity, per-channel and per-team routing
settings, the customer's language, and the queue of conversations waiting for an agent.

Every timer is a due-time column swept by the periodic job (routing.sweeps), never a
broker-delayed task: ``AgentState.away_due_at`` (idle → Away), ``offline_due_at`` (last page
closed → Offline), ``unassign_due_at`` (Offline → its New conversations unassigned) and
``Waiting.fallback_at`` (skills → the fallback team). The snooze timer is the conversation's own
``snoozed_until`` (conversations app). See docs/routing.md.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from channels_app.models import Channel, Team
from conversations.models import Contact, Conversation, Topic

DEFAULT_CAPACITY = 5
DEFAULT_FALLBACK_AFTER = timedelta(minutes=5)


def default_fallback_after() -> timedelta:
    return DEFAULT_FALLBACK_AFTER


class Availability(models.TextChoices):
    AVAILABLE = "available", _("Available")
    AWAY = "away", _("Away")
    OFFLINE = "offline", _("Offline")


class AgentState(models.Model):
    """One agent's availability, capacity and skills (a row per user who ever had a page open
    or set an availability; a user without one is Offline)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="routing_state",
        verbose_name=_("agent"),
    )
    availability = models.CharField(
        _("availability"), max_length=16, choices=Availability.choices, default=Availability.OFFLINE
    )
    # What the agent chose last (Available or Away); restored when a page opens after the last
    # one closed. Signing out resets it to Away.
    chosen = models.CharField(
        _("chosen availability"),
        max_length=16,
        choices=Availability.choices,
        default=Availability.AWAY,
    )
    # Away because idle, not chosen: their next activity makes them Available again.
    idle = models.BooleanField(_("away because idle"), default=False)
    open_pages = models.PositiveIntegerField(_("open pages"), default=0)
    last_activity_at = models.DateTimeField(_("last activity"), null=True, blank=True)
    changed_at = models.DateTimeField(_("availability changed"), null=True, blank=True)
    # Timers (due-time columns, swept by routing.sweeps).
    away_due_at = models.DateTimeField(_("idle from"), null=True, blank=True)
    offline_due_at = models.DateTimeField(_("offline from"), null=True, blank=True)
    unassign_due_at = models.DateTimeField(_("unassign New from"), null=True, blank=True)

    capacity = models.PositiveSmallIntegerField(
        _("capacity"),
        default=DEFAULT_CAPACITY,
        validators=[MinValueValidator(0), MaxValueValidator(500)],
        help_text=_(
            "Open conversations routing gives this agent at most. A channel's or a team's "
            "capacity, when set, overrides it."
        ),
    )
    topics = models.ManyToManyField(
        Topic, blank=True, related_name="+", verbose_name=_("topic skills")
    )
    languages = models.CharField(
        _("languages"),
        max_length=100,
        blank=True,
        help_text=_("Language codes the agent answers in, separated by commas, e.g. en, de."),
    )
    last_assigned_at = models.DateTimeField(_("last routed a conversation"), null=True, blank=True)

    class Meta:
        verbose_name = _("agent routing")
        verbose_name_plural = _("agents' routing")
        indexes = [
            models.Index(
                fields=["away_due_at"],
                condition=Q(availability="available", away_due_at__isnull=False),
                name="agent_idle_due",
            ),
            models.Index(
                fields=["offline_due_at"],
                condition=Q(offline_due_at__isnull=False),
                name="agent_offline_due",
            ),
            models.Index(
                fields=["unassign_due_at"],
                condition=Q(unassign_due_at__isnull=False),
                name="agent_unassign_due",
            ),
            models.Index(
                fields=["availability"],
                condition=Q(availability="available"),
                name="agent_available",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user}: {self.get_availability_display()}"


def parse_languages(text: str) -> frozenset[str]:
    """ "en, de-AT ,DE" → {"en", "de"}: the primary subtag, lower case."""
    return frozenset(
        part.strip().split("-")[0].split("_")[0].lower()
        for part in (text or "").split(",")
        if part.strip()
    )


class RoutingMode(models.TextChoices):
    MANUAL = "manual", _("Manual: assigned by hand")
    REPLY = "reply", _("Assign on reply: whoever replies first")
    PUSH = "push", _("Push: New conversations go to an available agent")


class ChannelRouting(models.Model):
    """A channel's routing settings. The mode is this row's ``push`` together with the channel's
    own ``auto_assign`` (assign on reply), so neither is ever stored twice."""

    channel = models.OneToOneField(
        Channel,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="routing",
        verbose_name=_("channel"),
    )
    push = models.BooleanField(_("push"), default=False)
    capacity = models.PositiveSmallIntegerField(
        _("capacity per agent"),
        null=True,
        blank=True,
        validators=[MaxValueValidator(500)],
        help_text=_("Overrides every agent's own capacity on this channel. Empty: theirs."),
    )
    fallback_team = models.ForeignKey(
        Team,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("fallback team"),
        help_text=_(
            "Gets conversations that no agent with the required skills took in time. "
            "Empty: any agent of the channel."
        ),
    )
    fallback_after = models.DurationField(
        _("fall back after"),
        default=default_fallback_after,
        help_text=_("How long a conversation waits for an agent with its skills."),
    )
    pending_boomerang_after = models.DurationField(
        _("Pending back to New after"),
        null=True,
        blank=True,
        help_text=_(
            "A Pending conversation without activity this long comes back into New (keeping its "
            "assignee). Empty switches it off."
        ),
    )

    class Meta:
        verbose_name = _("channel routing")
        verbose_name_plural = _("channels' routing")

    def __str__(self) -> str:
        return str(self.channel)

    @property
    def mode(self) -> str:
        return mode_of(self.channel, self)


def mode_of(channel: Channel, routing: ChannelRouting | None) -> str:
    if routing is not None and routing.push:
        return RoutingMode.PUSH
    return RoutingMode.REPLY if channel.auto_assign else RoutingMode.MANUAL


class TeamRouting(models.Model):
    """A team's capacity for its members (overrides theirs; a channel's overrides it)."""

    team = models.OneToOneField(
        Team, on_delete=models.CASCADE, primary_key=True, related_name="routing"
    )
    capacity = models.PositiveSmallIntegerField(
        _("capacity per member"), validators=[MaxValueValidator(500)]
    )

    class Meta:
        verbose_name = _("team capacity")
        verbose_name_plural = _("team capacities")

    def __str__(self) -> str:
        return f"{self.team}: {self.capacity}"


class ContactLanguage(models.Model):
    """The customer's language, when known: a required skill of their conversations."""

    contact = models.OneToOneField(
        Contact, on_delete=models.CASCADE, primary_key=True, related_name="routing_language"
    )
    language = models.CharField(_("language"), max_length=16)

    class Meta:
        verbose_name = _("customer language")
        verbose_name_plural = _("customer languages")

    def __str__(self) -> str:
        return f"{self.contact}: {self.language}"


class Waiting(models.Model):
    """A New, unassigned conversation on a push channel, waiting for an agent.

    Written when a conversation starts waiting (the conversations' announcements, and the sweep
    for any it missed), deleted when it is routed or stops waiting (assigned, moved, resolved).
    """

    conversation = models.OneToOneField(
        Conversation, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+", db_index=False)
    queued_at = models.DateTimeField(_("waiting since"))
    # When the fallback team may take it (queued_at + the channel's wait), if it needs skills.
    fallback_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("waiting conversation")
        verbose_name_plural = _("waiting conversations")
        indexes = [models.Index(fields=["channel", "queued_at"], name="waiting_by_channel")]

    def __str__(self) -> str:
        return f"#{self.conversation_id} since {self.queued_at:%Y-%m-%d %H:%M}"
