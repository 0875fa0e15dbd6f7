"""One row per change of an audited object (docs/audit.md).

Written by audit.registry's receivers in the transaction of the change itself; never edited
afterwards (the admin is read-only) and removed only by the retention job (audit.tasks).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils.translation import gettext_lazy as _

# How a secret field's change is written: never its value, old or new.
SECRET_CHANGED = "changed"  # noqa: S105 (the word written instead of a secret)


class AuditEntry(models.Model):
    class Action(models.TextChoices):
        CREATE = "create", _("Created")
        UPDATE = "update", _("Changed")
        DELETE = "delete", _("Deleted")

    class Source(models.TextChoices):
        ADMIN = "admin", _("Admin")
        WEB = "web", _("Desk page")
        API = "api", _("API")
        COMMAND = "command", _("Management command")
        SYSTEM = "system", _("System")

    at = models.DateTimeField(_("time"), db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor"),
        db_constraint=False,  # the row outlives the user; actor_name keeps who it was
    )
    # Who, as text at the time: the username, "command sync_templates", "API token: CRM".
    actor_name = models.CharField(_("actor"), max_length=200)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices)
    remote_addr = models.GenericIPAddressField(_("client address"), null=True, blank=True)
    action = models.CharField(_("action"), max_length=16, choices=Action.choices)
    content_type = models.ForeignKey(
        ContentType, on_delete=models.PROTECT, related_name="+", verbose_name=_("object type")
    )
    object_id = models.CharField(_("object ID"), max_length=64)
    object_repr = models.CharField(_("object"), max_length=200)
    # {field: [old, new]}; a secret field: {field: "changed"}.
    changes = models.JSONField(_("changes"), default=dict)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["content_type", "object_id"], name="audit_by_object")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.action} {self.object_repr}"
