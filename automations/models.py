"""Automation rules (per channel, in order), opt-out stop words and each contact's marketing
opt-out with its history. See docs/automations.md."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from channels_app.models import Channel, MessageTemplate, Team
from conversations.models import Contact, Conversation, Message, Tag, Topic
from replies.models import SavedReply

# The priorities an automation may set: the conversation's own.
PRIORITY_CHOICES = Conversation.Priority.choices


class AutomationRule(models.Model):
    """When an inbound message on ``channel`` meets every condition set, do every action set.

    Rules of a channel run in ``position`` order; ``stop_processing`` ends the run after this
    rule fired. Empty conditions match anything; a rule needs at least one action.
    """

    class Hours(models.TextChoices):
        ANY = "", _("Any time")
        OPEN = "open", _("Inside business hours")
        CLOSED = "closed", _("Outside business hours")

    class Novelty(models.TextChoices):
        ANY = "", _("Any conversation")
        NEW = "new", _("A conversation this message opened")
        EXISTING = "existing", _("A conversation already open")

    channel = models.ForeignKey(
        Channel, on_delete=models.CASCADE, related_name="automation_rules",
        verbose_name=_("channel"),
    )  # fmt: skip
    name = models.CharField(_("name"), max_length=120)
    position = models.PositiveIntegerField(
        _("order"), default=0, help_text=_("Rules of a channel run from the lowest number up.")
    )
    is_active = models.BooleanField(_("active"), default=True)
    stop_processing = models.BooleanField(
        _("stop after this rule"),
        default=False,
        help_text=_("When this rule fires, the rules after it do not run for this message."),
    )

    # --- conditions (all that are set must hold) ---
    text_contains = models.CharField(
        _("text contains"), max_length=200, blank=True,
        help_text=_("Case-insensitive. Several words separated by commas: any one of them."),
    )  # fmt: skip
    text_pattern = models.CharField(
        _("text matches the pattern"), max_length=200, blank=True,
        help_text=_(
            "A regular expression, case-insensitive. Checked when saved and given at most "
            "50 ms per message."
        ),
    )  # fmt: skip
    button_payload = models.CharField(
        _("button payload"), max_length=200, blank=True,
        help_text=_("The payload of a template button the customer tapped (exact)."),
    )  # fmt: skip
    message_type = models.CharField(
        _("message type"), max_length=16, blank=True,
        choices=[c for c in Message.Type.choices if c[0] not in ("system", "template")],
    )  # fmt: skip
    business_hours = models.CharField(
        _("business hours"), max_length=8, blank=True, choices=Hours.choices, default=Hours.ANY
    )
    conversation_is = models.CharField(
        _("conversation"), max_length=8, blank=True, choices=Novelty.choices,
        default=Novelty.ANY,
    )  # fmt: skip

    # --- actions ---
    add_tag = models.ForeignKey(
        Tag, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("add tag"),
    )  # fmt: skip
    add_topic = models.ForeignKey(
        Topic, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("add topic"),
    )  # fmt: skip
    route_to_team = models.ForeignKey(
        Team, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("route to team"),
    )  # fmt: skip
    set_priority = models.PositiveSmallIntegerField(
        _("set priority"), null=True, blank=True, choices=PRIORITY_CHOICES
    )
    send_saved_reply = models.ForeignKey(
        SavedReply, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("send saved reply"),
        help_text=_("A team or global saved reply; sent only while the 24-hour window is open."),
    )  # fmt: skip
    send_template = models.ForeignKey(
        MessageTemplate, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("send template"),
    )  # fmt: skip
    template_params = models.TextField(
        _("template parameters"), blank=True,
        help_text=_("One value per line for {{1}}, {{2}}, …"),
    )  # fmt: skip
    resolve = models.BooleanField(_("resolve the conversation"), default=False)

    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("automation rule")
        verbose_name_plural = _("automation rules")
        ordering = ["channel", "position", "id"]
        indexes = [
            models.Index(
                fields=["channel", "position"], condition=Q(is_active=True),
                name="automation_active_rules",
            )
        ]  # fmt: skip

    def __str__(self) -> str:
        return self.name

    def template_param_list(self) -> list[str]:
        return [line.strip() for line in self.template_params.splitlines() if line.strip()]


class OptOutWord(models.Model):
    """A word that, written alone by a customer, opts them out of (or back into) marketing."""

    class Kind(models.TextChoices):
        STOP = "stop", _("Opt out")
        START = "start", _("Opt back in")

    word = models.CharField(_("word"), max_length=64)
    language = models.CharField(
        _("language"), max_length=16, blank=True, help_text=_("e.g. en, de (for the list only)")
    )
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices, default=Kind.STOP)

    class Meta:
        verbose_name = _("opt-out word")
        verbose_name_plural = _("opt-out words")
        ordering = ["kind", "language", "word"]
        constraints = [models.UniqueConstraint(fields=["word"], name="optout_word_unique")]

    def __str__(self) -> str:
        return self.word


class MarketingOptOut(models.Model):
    """A contact's current marketing consent; absent means never opted out."""

    contact = models.OneToOneField(
        Contact, on_delete=models.CASCADE, related_name="marketing_optout",
        verbose_name=_("contact"),
    )  # fmt: skip
    opted_out = models.BooleanField(_("opted out of marketing"), default=True)
    changed_at = models.DateTimeField(_("changed"))
    source = models.CharField(_("source"), max_length=16)

    class Meta:
        verbose_name = _("marketing opt-out")
        verbose_name_plural = _("marketing opt-outs")

    def __str__(self) -> str:
        return f"{self.contact}: {'out' if self.opted_out else 'in'}"


class OptOutChange(models.Model):
    """One change of a contact's marketing consent: who or what, when, why."""

    class Source(models.TextChoices):
        KEYWORD = "keyword", _("The customer wrote a stop or start word")
        META = "meta", _("WhatsApp reported the customer's choice")
        AGENT = "agent", _("An agent")

    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="optout_changes",
        verbose_name=_("contact"),
    )  # fmt: skip
    opted_out = models.BooleanField(_("opted out"))
    source = models.CharField(_("source"), max_length=16, choices=Source.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+", verbose_name=_("by"),
    )  # fmt: skip
    note = models.TextField(_("note"), blank=True)
    # The customer's message (its wamid) or Meta's detail text: where the change came from.
    evidence = models.CharField(_("evidence"), max_length=255, blank=True)
    channel = models.ForeignKey(
        Channel, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("channel"),
    )  # fmt: skip
    created_at = models.DateTimeField(_("when"))

    class Meta:
        verbose_name = _("opt-out change")
        verbose_name_plural = _("opt-out changes")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["contact", "-created_at"], name="optout_change_contact")]

    def __str__(self) -> str:
        return f"{self.contact}: {'out' if self.opted_out else 'in'} ({self.source})"
