"""Every state change of a conversation goes through a function in this module.

Each one takes the subject positionally and everything else by keyword, checks the capability
through channels_app.access, runs in one transaction, and writes an Event in it. Side effects
(sending to the provider) leave only after commit. See docs/conversation-lifecycle.md.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from conversations.models import Conversation, Event


class DomainError(Exception):
    """A rule of the desk refused the action; ``message`` is shown to the user as it is."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


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
