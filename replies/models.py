"""Saved replies: canned answers an agent inserts into the reply box by typing ``/shortcut``.

See docs/saved-replies.md for the scopes and who sees what (replies/access.py).
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q, Value
from django.db.models.functions import Concat, Lower
from django.utils.translation import gettext_lazy as _

from channels_app.models import MessageTemplate, Team

SHORTCUT_PATTERN = r"^[a-z0-9][a-z0-9_-]*\Z"
shortcut_validator = RegexValidator(
    SHORTCUT_PATTERN,
    _(
        "A shortcut is lower-case letters a–z, digits, “-” and “_”, starting with a letter or "
        "digit (no spaces, no slash)."
    ),
)


class SavedReply(models.Model):
    """One saved reply: personal (its owner's), a team's, or global (everyone who works a
    channel). Optionally linked to an approved WhatsApp template, so that it can be sent when
    the customer-service window is closed."""

    class Scope(models.TextChoices):
        PERSONAL = "personal", _("Personal")
        TEAM = "team", _("Team")
        GLOBAL = "global", _("Global")

    class Language(models.TextChoices):
        ANY = "", _("Any language")
        EN = "en", _("English")
        DE = "de", _("German")

    title = models.CharField(_("title"), max_length=120)
    shortcut = models.CharField(
        _("shortcut"),
        max_length=40,
        validators=[shortcut_validator],
        help_text=_("Type “/” and the shortcut in the reply box, e.g. /refund."),
    )
    body = models.TextField(
        _("text"),
        max_length=4096,
        help_text=_(
            "Placeholders: {{contact.first_name}}, {{contact.name}}, {{agent.first_name}}, "
            "{{agent.name}}, {{channel.name}}; a fallback after “|” is used when the value is "
            "unknown: {{contact.first_name|there}}."
        ),
    )
    scope = models.CharField(_("scope"), max_length=16, choices=Scope.choices)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="saved_replies",
        verbose_name=_("owner"),
        db_index=False,  # saved_reply_owner_shortcut starts with it
    )
    team = models.ForeignKey(
        Team,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="saved_replies",
        verbose_name=_("team"),
        db_index=False,  # saved_reply_team_shortcut starts with it
    )
    language = models.CharField(
        _("language"), max_length=8, choices=Language.choices, default="", blank=True
    )
    template = models.ForeignKey(
        MessageTemplate,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="saved_replies",
        verbose_name=_("WhatsApp template"),
        help_text=_(
            "An approved template that says the same: offered when the 24-hour window is closed."
        ),
    )
    template_params = models.TextField(
        _("template parameters"),
        blank=True,
        help_text=_(
            "One line per template parameter ({{1}}, {{2}}, …), placeholders allowed; the "
            "agent can still change them before sending."
        ),
    )
    # What the search looks in, lower-cased by the database: one column, so that one trigram
    # index (PostgreSQL, migration 0001) serves title, shortcut and body at once.
    search_text = models.GeneratedField(
        expression=Lower(
            Concat(
                "shortcut", Value(" "), "title", Value(" "), "body", output_field=models.TextField()
            )
        ),
        output_field=models.TextField(),
        db_persist=True,
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("saved reply")
        verbose_name_plural = _("saved replies")
        ordering = ["title", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(scope="personal", owner__isnull=False, team__isnull=True)
                    | Q(scope="team", owner__isnull=True, team__isnull=False)
                    | Q(scope="global", owner__isnull=True, team__isnull=True)
                ),
                name="saved_reply_scope_matches_owner_and_team",
                violation_error_message=_(
                    "A personal reply has an owner, a team reply a team, a global one neither."
                ),
            ),
            models.UniqueConstraint(
                fields=["owner", "shortcut"],
                condition=Q(scope="personal"),
                name="saved_reply_owner_shortcut",
                violation_error_message=_("You already have a saved reply with this shortcut."),
            ),
            models.UniqueConstraint(
                fields=["team", "shortcut"],
                condition=Q(scope="team"),
                name="saved_reply_team_shortcut",
                violation_error_message=_(
                    "This team already has a saved reply with this shortcut."
                ),
            ),
            models.UniqueConstraint(
                fields=["shortcut"],
                condition=Q(scope="global"),
                name="saved_reply_global_shortcut",
                violation_error_message=_("A global saved reply already has this shortcut."),
            ),
        ]

    def __str__(self) -> str:
        return f"/{self.shortcut} · {self.title}"

    def template_param_lines(self) -> list[str]:
        return self.template_params.splitlines() if self.template_params else []
