"""A conversation's priority (issue 19): Low, Normal (the default), High, Urgent.

Set by an agent who may triage the conversation or by an automation rule (the system); the
same priority again is a no-op without an event. Locks the conversation like every writer.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from channels_app.access import Cap
from conversations.models import Conversation
from conversations.services.events import DomainError, _lock, _require, record_event

PRIORITY_CHANGED = "priority_changed"
UNKNOWN_PRIORITY = _("Unknown priority.")


@transaction.atomic
def set_priority(
    conversation: Conversation, *, priority: int, actor: AbstractBaseUser | None,
    now: datetime | None = None,
) -> Conversation:  # fmt: skip
    """Set the priority (Cap.TRIAGE; DomainError for a value that is not a priority)."""
    now = now or timezone.now()
    _require(actor, Cap.TRIAGE, conversation)
    if priority not in Conversation.Priority.values:
        raise DomainError(str(UNKNOWN_PRIORITY))
    _lock(conversation)
    if conversation.priority == priority:
        return conversation
    previous = conversation.priority
    conversation.priority = priority
    conversation.save(update_fields=["priority"])
    record_event(
        conversation, kind=PRIORITY_CHANGED, actor=actor,
        data={"from": previous, "to": priority}, now=now,
    )  # fmt: skip
    return conversation
