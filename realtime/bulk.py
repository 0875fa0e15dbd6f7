"""Bulk actions of the inbox: one service call per conversation, each with the capability check
of the single action (conversations.access) and its own event; a conversation the user may not
change is skipped with the reason, never a silent drop."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _

from channels_app.access import Cap
from conversations import services
from conversations.access import conversation_for
from conversations.models import Conversation, Tag

NEEDS = {
    "resolved": Cap.TRIAGE,
    "pending": Cap.TRIAGE,
    "new": Cap.TRIAGE,
    "assign_me": Cap.ASSIGN,
    "unassign": Cap.ASSIGN,
    "tag": Cap.ANNOTATE,
}


@dataclass
class Outcome:
    done: int = 0
    refused: list[str] = field(default_factory=list)


def _apply_one(user, action: str, tag: Tag | None, conversation: Conversation) -> None:
    if action in ("resolved", "pending", "new"):
        if conversation.status != action:
            services.move_conversation(conversation, to=action, actor=user)
    elif action == "assign_me":
        if conversation.assignee_id != user.pk:
            services.assign(conversation, assignee=user, actor=user)
    elif action == "unassign":
        if conversation.assignee_id is not None:
            services.unassign(conversation, actor=user)
    elif action == "tag":
        services.add_tag(conversation, tag=tag, actor=user)


def apply(user, action: tuple[str, Tag | None], ids: list[int]) -> Outcome:
    name, tag = action
    outcome = Outcome()
    for pk in ids:
        try:
            conversation = conversation_for(user, pk, needs=NEEDS[name])
            _apply_one(user, name, tag, conversation)
        except Http404:
            outcome.refused.append(_("#%(id)d does not exist") % {"id": pk})
        except PermissionDenied as exc:
            outcome.refused.append(f"#{pk}: {exc}")
        except services.DomainError as exc:
            outcome.refused.append(f"#{pk}: {exc.message}")
        else:
            outcome.done += 1
    return outcome
