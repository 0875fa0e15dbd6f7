"""The desk's refusals (DomainError and its kinds, with the texts they carry), the history row
every writer appends (``record_event``), and the small helpers the writers share.

Lock order (docs/concurrency.md): the conversation row first (``FOR NO KEY UPDATE``), then any
child rows. ``actor=None`` means the system.
"""

from __future__ import annotations

import re
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from channels_app.access import Cap, channels_where, require
from channels_app.models import Channel
from conversations.models import Conversation, Event, Message

# WhatsApp Cloud API: a text message body is at most 4096 characters.
MAX_REPLY_LENGTH = 4096
MAX_NOTE_LENGTH = 10_000
PREVIEW_LENGTH = 200
PLACEHOLDER = re.compile(r"\{\{\s*(\d+)\s*\}\}")

Status = Conversation.Status


class DomainError(Exception):
    """A rule of the desk refused the action; ``message`` is shown to the user as it is."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class AssigneeNotAllowed(DomainError):
    """The chosen assignee may not be assigned the conversation (they cannot reply on it)."""


class WindowClosed(DomainError):
    """A free-form reply outside WhatsApp's 24-hour customer-service window."""


# The constant messages each refusal carries (tests assert them; the UI shows them).
WINDOW_CLOSED = _(
    "The 24-hour window for free-form replies has closed. Send an approved template instead."
)
EMPTY_REPLY = _("Write a reply first.")
REPLY_TOO_LONG = _("A reply can be at most 4096 characters long.")
REPLY_ON_RESOLVED = _(
    "This conversation is resolved. Move it back to New or Pending before writing to the customer."
)
TEMPLATE_NOT_SENDABLE = _("This template is not approved for this channel.")
TEMPLATE_PARAMS = ngettext_lazy(
    "This template needs %(count)s parameter, filled in.",
    "This template needs %(count)s parameters, each filled in.",
    "count",
)
UNKNOWN_STATUS = _("Unknown status.")
ANOTHER_OPEN = _(
    "The contact already has an open conversation on this channel; continue that one instead."
)
ASSIGNEE_NO_ACCESS = _(
    "This user cannot reply on this channel, so the conversation cannot be assigned to them."
)
ASSIGN_RESOLVED = _("A resolved conversation cannot be assigned.")
EMPTY_NOTE = _("Write a note first.")
NOTE_TOO_LONG = _("A note can be at most 10000 characters long.")


def record_event(
    conversation: Conversation,
    *,
    kind: str,
    actor: AbstractBaseUser | None,
    data: dict | None = None,
    now: datetime | None = None,
) -> Event:
    """Append one history row; ``actor=None`` means the system did it."""
    return Event.objects.create(
        conversation=conversation,
        kind=kind,
        actor=actor,
        data=data or {},
        created_at=now or timezone.now(),
    )


# --- helpers -----------------------------------------------------------------------------------


def _lock(conversation: Conversation) -> Conversation:
    """Reload the caller's instance under a row lock, so every check below sees fresh data.

    ``FOR NO KEY UPDATE``: serialises writers of this row without blocking inserts of its messages.
    """
    conversation.refresh_from_db(
        from_queryset=Conversation.objects.select_for_update(no_key=True)
    )
    return conversation


def _user_ref(user: AbstractBaseUser | None) -> dict | None:
    """How an Event names a user: the id, plus the name at the time (history stays readable)."""
    if user is None:
        return None
    name = user.get_full_name() if hasattr(user, "get_full_name") else ""
    return {"id": user.pk, "name": name or user.get_username()}


def _later(current: datetime | None, candidate: datetime) -> datetime:
    return candidate if current is None or candidate > current else current


def _preview(body: str, type: str) -> str:
    text = " ".join((body or "").split())
    if not text:
        text = f"[{Message.Type(type).label}]" if type in Message.Type.values else f"[{type}]"
    return text[:PREVIEW_LENGTH]


def _require(actor: AbstractBaseUser | None, cap: Cap, conversation: Conversation) -> None:
    if actor is not None:  # the system acts without a role
        require(actor, cap, conversation.channel)


def _has_access(user: AbstractBaseUser, channel: Channel, cap: Cap = Cap.SEE) -> bool:
    # Not can(user, ...): a channel loaded for the acting user carries *their* role annotation,
    # which role_for() would reuse for this other user.
    return channels_where(user, cap).filter(pk=channel.pk).exists()


# --- inbound -----------------------------------------------------------------------------------
