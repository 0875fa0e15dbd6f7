"""A channel's health as WhatsApp reports it (imported by channels_app.models; the rules that
write it live in channels_app.health). See docs/channel-health.md."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ChannelHealth(models.Model):
    """The latest known state of one channel's number, business account and token."""

    class Quality(models.TextChoices):
        UNKNOWN = "", _("Unknown")
        GREEN = "GREEN", _("High (green)")
        YELLOW = "YELLOW", _("Medium (yellow)")
        RED = "RED", _("Low (red)")

    channel = models.OneToOneField(
        "channels_app.Channel", on_delete=models.CASCADE, primary_key=True,
        related_name="health", verbose_name=_("channel"),
    )  # fmt: skip
    quality_rating = models.CharField(
        _("quality rating"), max_length=8, blank=True, choices=Quality.choices
    )
    # Meta's last phone_number_quality_update event (FLAGGED, UNFLAGGED, UPGRADE, DOWNGRADE…).
    quality_event = models.CharField(_("last quality event"), max_length=32, blank=True)
    messaging_limit = models.CharField(_("messaging limit"), max_length=32, blank=True)
    # "" while the account has no restriction; RESTRICTED, DISABLED, BANNED, … otherwise.
    account_status = models.CharField(_("account status"), max_length=40, blank=True)
    account_detail = models.CharField(_("account detail"), max_length=500, blank=True)
    restricted_until = models.DateTimeField(_("restricted until"), null=True, blank=True)
    token_failed_at = models.DateTimeField(_("token stopped working"), null=True, blank=True)
    token_error = models.CharField(_("token error"), max_length=255, blank=True)
    updated_at = models.DateTimeField(_("updated"))

    class Meta:
        verbose_name = _("channel health")
        verbose_name_plural = _("channel health")

    def __str__(self) -> str:
        return str(self.channel)

    def problems(self) -> list[str]:
        """What is wrong, in words, worst first; empty when healthy."""
        found = []
        if self.token_failed_at:
            found.append(_("The access token stopped working: nothing can be sent."))
        if self.account_status:
            found.append(_("Account: %(status)s") % {"status": self.account_status})
        if self.quality_rating in (self.Quality.RED, self.Quality.YELLOW):
            found.append(_("Quality rating: %(q)s") % {"q": self.get_quality_rating_display()})
        return [str(p) for p in found]


class HealthEvent(models.Model):
    """One thing WhatsApp (or a failed call) said about a channel; the alert list."""

    class Kind(models.TextChoices):
        QUALITY = "quality", _("Quality rating")
        LIMIT = "limit", _("Messaging limit")
        ACCOUNT = "account", _("Account")
        TEMPLATE = "template", _("Template")
        TOKEN = "token", _("Access token")

    class Severity(models.IntegerChoices):
        INFO = 0, _("Information")
        WARNING = 1, _("Warning")
        CRITICAL = 2, _("Critical")

    channel = models.ForeignKey(
        "channels_app.Channel", on_delete=models.CASCADE, related_name="health_events",
        verbose_name=_("channel"),
    )  # fmt: skip
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    severity = models.PositiveSmallIntegerField(
        _("severity"), choices=Severity.choices, default=Severity.INFO
    )
    summary = models.CharField(_("what happened"), max_length=300)
    data = models.JSONField(_("details"), default=dict, blank=True)
    created_at = models.DateTimeField(_("when"))
    acknowledged_at = models.DateTimeField(_("seen"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+", verbose_name=_("seen by"),
    )  # fmt: skip

    class Meta:
        verbose_name = _("channel health event")
        verbose_name_plural = _("channel health events")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["channel", "-created_at"], name="health_event_channel"),
            models.Index(fields=["-created_at"], name="health_event_time"),
        ]

    def __str__(self) -> str:
        return self.summary

    def describe(self) -> str:
        """What happened, in the reader's language (``summary`` is the log's English line)."""
        data = self.data if isinstance(self.data, dict) else {}
        event = str(data.get("event") or "")
        limit = str(data.get("current_limit") or "?")
        if self.kind == self.Kind.QUALITY and event == "FLAGGED":
            return str(_("Quality rating low (number flagged); the messaging limit may be lowered"))
        if self.kind == self.Kind.QUALITY and event == "UNFLAGGED":
            return str(_("Quality rating back to high"))
        if self.kind == self.Kind.LIMIT and event == "DOWNGRADE":
            return str(_("Messaging limit lowered to %(limit)s") % {"limit": limit})
        if self.kind == self.Kind.LIMIT:
            return str(_("Messaging limit changed (%(event)s): %(limit)s")
                       % {"event": event, "limit": limit})  # fmt: skip
        if self.kind == self.Kind.TOKEN:
            if "code" in data:
                return str(_("The access token stopped working (code %(code)s)")
                           % {"code": data.get("code")})  # fmt: skip
            return str(_("The access token works again"))
        if self.kind == self.Kind.ACCOUNT:
            return str(_("Business account: %(event)s") % {"event": event}) + (
                self.summary[self.summary.index(":"):] if ":" in self.summary else ""
            )
        if self.kind == self.Kind.TEMPLATE and data.get("new"):
            return str(_("Template %(name)s: quality %(previous)s → %(new)s") % {
                "name": data.get("name", "?"), "previous": data.get("previous") or "?",
                "new": data["new"]})  # fmt: skip
        if self.kind == self.Kind.TEMPLATE and event:
            return str(_("Template %(name)s: %(event)s") % {"name": data.get("name", "?"),
                                                          "event": event})  # fmt: skip
        return self.summary
