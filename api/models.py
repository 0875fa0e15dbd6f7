"""Integration tokens, the idempotency store, the per-channel send log and outgoing webhooks.

See docs/api.md. A token's secret is never stored: only its SHA-256 (the secret is 256 random
bits, so a fast hash cannot be brute-forced) and a short prefix to recognise it in lists.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from api import egress
from channels_app.encryption import EncryptedTextField
from channels_app.models import Channel


class ApiToken(models.Model):
    name = models.CharField(
        _("name"), max_length=100, help_text=_("Which integration uses it, e.g. “CRM”.")
    )
    prefix = models.CharField(_("token starts with"), max_length=16, editable=False)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    channels = models.ManyToManyField(
        Channel,
        related_name="api_tokens",
        verbose_name=_("channels"),
        help_text=_("The channels this token may send on and read; no others."),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class IdempotentRequest(models.Model):
    """The answer to a successful POST that carried an Idempotency-Key, per token and key."""

    token = models.ForeignKey(ApiToken, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["token", "key"], name="one_answer_per_token_key")
        ]

    def __str__(self) -> str:
        return f"{self.token_id}: {self.key}"


class ChannelSendWindow(models.Model):
    """The rate limiter's row per channel: locked by each API send, it holds the send times of
    the last minute (at most API_SENDS_PER_MINUTE of them)."""

    channel = models.OneToOneField(
        Channel, on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    sent_at = models.JSONField(default=list)  # ISO times, oldest first

    def __str__(self) -> str:
        return f"channel {self.channel_id}: {len(self.sent_at)} sends"


class WebhookSubscription(models.Model):
    class EventType(models.TextChoices):
        CONVERSATION_CREATED = "conversation.created", _("New conversation")
        CONVERSATION_RESOLVED = "conversation.resolved", _("Conversation resolved")
        MESSAGE_FAILED = "message.failed", _("Message failed")

    token = models.ForeignKey(
        ApiToken,
        on_delete=models.CASCADE,
        related_name="webhooks",
        verbose_name=_("API token"),
        help_text=_("Events of the token's channels are sent."),
    )
    url = models.URLField(_("URL"), max_length=500)
    # Signs each delivery (HMAC-SHA256); shown once when created, encrypted at rest.
    secret = EncryptedTextField(_("signing secret"))
    events = models.JSONField(_("events"), default=list, blank=True)  # empty: every event
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("webhook subscription")
        verbose_name_plural = _("webhook subscriptions")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.url

    def clean(self):
        # A new or changed URL must be one the desk delivers to (api.egress; admin and API).
        changed = self._state.adding or (
            WebhookSubscription.objects.filter(pk=self.pk).exclude(url=self.url).exists()
        )
        if changed and self.url:
            try:
                egress.check_url(self.url)
            except egress.RefusedDestination as refusal:
                raise ValidationError({"url": str(refusal)}) from refusal


class WebhookDelivery(models.Model):
    """The outbox: one event for one subscription, delivered when ``due_at`` has come."""

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Given up")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_type = models.CharField(_("event"), max_length=40)
    payload = models.JSONField()
    state = models.CharField(
        _("state"), max_length=10, choices=State.choices, default=State.PENDING
    )
    due_at = models.DateTimeField(_("due"), null=True)  # NULL once delivered or given up
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_status = models.PositiveSmallIntegerField(_("last answer"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created"))
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        indexes = [
            models.Index(fields=["due_at"], name="webhook_due", condition=Q(due_at__isnull=False))
        ]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.subscription_id} ({self.state})"
