"""The live workspace's own rows: the database bus (make run without Redis) and unread markers."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from conversations.models import Conversation


class BusEntry(models.Model):
    """A push waiting for the ASGI process when no Redis runs (the development fallback).

    Every process that pushes (web, worker, beat) writes a row; the ASGI process reads the new
    rows once per ``REALTIME_BUS_POLL_S`` for all its sockets and deletes old ones
    (realtime/bus.py). With Redis this table stays empty.
    """

    group = models.CharField(max_length=100)
    message = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("pending push")
        verbose_name_plural = _("pending pushes")

    def __str__(self) -> str:
        return f"{self.group} #{self.pk}"


class ReadMarker(models.Model):
    """When an agent last looked at a conversation: rows with later customer messages are unread
    for them (the inbox's marker)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    read_at = models.DateTimeField(_("read"))

    class Meta:
        verbose_name = _("read marker")
        verbose_name_plural = _("read markers")
        constraints = [
            models.UniqueConstraint(fields=["user", "conversation"], name="one_marker_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} read {self.conversation_id} at {self.read_at:%Y-%m-%d %H:%M}"
