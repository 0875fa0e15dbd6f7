"""The conversation's lifecycle: status moves, assignment, tags, topics and notes.

Each one takes the subject positionally and everything else by keyword, checks the capability
through channels_app.access, runs in one transaction, and writes an Event in it. Side effects
(sending to the provider) leave only after commit. See docs/conversation-lifecycle.md.

Lock order (docs/concurrency.md): the conversation row first (``FOR NO KEY UPDATE``), then any
child rows. ``actor=None`` means the system.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from channels_app.access import Cap
from conversations import rules
from conversations.models import Conversation, Event, Note, Tag, Topic
from conversations.services import announcements
from conversations.services.events import (
    ANOTHER_OPEN,
    ASSIGN_RESOLVED,
    ASSIGNEE_NO_ACCESS,
    EMPTY_NOTE,
    MAX_NOTE_LENGTH,
    NOTE_TOO_LONG,
    UNKNOWN_STATUS,
    AssigneeNotAllowed,
    DomainError,
    Status,
    _has_access,
    _later,
    _lock,
    _require,
    _user_ref,
    record_event,
)

# --- status and assignment ---------------------------------------------------------------------


@transaction.atomic
def resolve_survey_answers(conversation_ids, *, now: datetime) -> list[int]:
    """The system resolves the conversations that only carry a customer's CSAT answer (opened by
    it, since the surveyed conversation was Resolved), so no answer waits in New.

    Batch-shaped: one locking read, one update, one insert of STATUS_CHANGED events (reason
    ``survey_answer``), one announcement. Only conversations still New are touched (an agent
    who already moved one keeps it). Returns the ids resolved.
    """
    ids = list(
        Conversation.objects.select_for_update(no_key=True)
        .filter(pk__in=list(conversation_ids), status=Status.NEW)
        .values_list("pk", flat=True)
    )
    if not ids:
        return []
    fields = rules.resolved_fields(resolution=rules.SURVEY_ANSWER_RESOLUTION, now=now)
    Conversation.objects.filter(pk__in=ids).update(**fields, resolved_by=None)
    Conversation.objects.filter(pk__in=ids, last_activity_at__lt=now).update(last_activity_at=now)
    data = {
        "from": Status.NEW.value,
        "to": Status.RESOLVED.value,
        "reason": rules.SURVEY_ANSWER_REASON,
    }
    Event.objects.bulk_create(
        Event(conversation_id=pk, kind=Event.Kind.STATUS_CHANGED, data=data, created_at=now)
        for pk in ids
    )
    announcements.conversation_changed(ids, change=Event.Kind.STATUS_CHANGED)
    return ids


def _announce(conversation: Conversation, kind: str, actor: AbstractBaseUser | None) -> None:
    """conversation_changed after commit, named by the Event kind written."""
    actor_id = None if actor is None else actor.pk
    announcements.conversation_changed([conversation.pk], change=kind, actor_id=actor_id)


@transaction.atomic
def move_conversation(
    conversation: Conversation,
    *,
    to: str,
    actor: AbstractBaseUser | None,
    now: datetime | None = None,
) -> Conversation:
    """Move a conversation to New, Pending or Resolved; the same status is a no-op.

    Needs Cap.TRIAGE. Resolved clears the assignee (an UNASSIGNED event) and records
    resolution "agent". Leaving Resolved is a reopen, refused when the contact already has another
    open conversation on the channel. Locks the conversation; bumps last_activity_at.
    """
    now = now or timezone.now()
    _require(actor, Cap.TRIAGE, conversation)
    if to not in Status.values or to == Status.SNOOZED:  # snoozing needs a time: services.snooze
        raise DomainError(str(UNKNOWN_STATUS))
    _lock(conversation)
    old = conversation.status
    if old == to:
        return conversation
    reopen = old == Status.RESOLVED
    if reopen and (
        Conversation.objects.filter(
            channel_id=conversation.channel_id,
            contact_id=conversation.contact_id,
            status__in=Conversation.OPEN,
        )
        .exclude(pk=conversation.pk)
        .exists()
    ):
        raise DomainError(str(ANOTHER_OPEN))

    fields = ["status", "last_activity_at"]
    if conversation.snoozed_until is not None:  # leaving Snoozed by hand
        conversation.snoozed_until = None
        fields.append("snoozed_until")
    previous_assignee = conversation.assignee if conversation.assignee_id else None
    conversation.status = to
    conversation.last_activity_at = _later(conversation.last_activity_at, now)
    if to == Status.RESOLVED:
        resolved = rules.resolved_fields(resolution=Conversation.Resolution.AGENT, now=now)
        for name, value in resolved.items():
            setattr(conversation, name, value)
        conversation.resolved_by = actor
        fields += [*resolved, "resolved_by"]
    elif reopen:
        conversation.resolved_at = None
        conversation.resolution = ""
        conversation.resolved_by = None
        fields += ["resolved_at", "resolution", "resolved_by"]
    try:
        with transaction.atomic():
            conversation.save(update_fields=fields)
    except IntegrityError:
        # An inbound message opened a new conversation between our check and our write.
        conversation.refresh_from_db()
        raise DomainError(str(ANOTHER_OPEN)) from None

    data = {"from": old, "to": to}
    if reopen:
        data["reopened"] = True
    record_event(conversation, kind=Event.Kind.STATUS_CHANGED, actor=actor, data=data, now=now)
    if previous_assignee is not None and to == Status.RESOLVED:
        record_event(
            conversation,
            kind=Event.Kind.UNASSIGNED,
            actor=actor,
            data={"from": _user_ref(previous_assignee), "reason": "resolved"},
            now=now,
        )
    _announce(conversation, Event.Kind.STATUS_CHANGED, actor)
    return conversation


@transaction.atomic
def assign(
    conversation: Conversation,
    *,
    assignee: AbstractBaseUser,
    actor: AbstractBaseUser | None,
    now: datetime | None = None,
) -> Conversation:
    """Make ``assignee`` responsible for an open conversation; assigning the same user is a no-op.

    Needs Cap.ASSIGN for the actor (PermissionDenied otherwise) and Cap.BE_ASSIGNED, which is
    the reply role, for the assignee (DomainError otherwise). A Resolved conversation cannot be
    assigned. Locks the conversation.
    """
    now = now or timezone.now()
    _require(actor, Cap.ASSIGN, conversation)
    if not assignee.is_active or not _has_access(
        assignee, conversation.channel, Cap.BE_ASSIGNED
    ):
        raise AssigneeNotAllowed(str(ASSIGNEE_NO_ACCESS))
    _lock(conversation)
    if conversation.status == Status.RESOLVED:
        raise DomainError(str(ASSIGN_RESOLVED))
    if conversation.assignee_id == assignee.pk:
        return conversation
    previous = conversation.assignee if conversation.assignee_id else None
    conversation.assignee = assignee
    conversation.save(update_fields=["assignee"])
    record_event(
        conversation,
        kind=Event.Kind.ASSIGNED,
        actor=actor,
        data={"from": _user_ref(previous), "to": _user_ref(assignee)},
        now=now,
    )
    _announce(conversation, Event.Kind.ASSIGNED, actor)
    return conversation


@transaction.atomic
def unassign(
    conversation: Conversation,
    *,
    actor: AbstractBaseUser | None,
    now: datetime | None = None,
    reason: str = "",
) -> Conversation:
    """Clear the assignee; a no-op when there is none. Needs Cap.ASSIGN; locks the row.
    ``reason`` goes into the event (e.g. "signed_out": routing's unassignment on sign-out)."""
    now = now or timezone.now()
    _require(actor, Cap.ASSIGN, conversation)
    _lock(conversation)
    if conversation.assignee_id is None:
        return conversation
    previous = conversation.assignee
    conversation.assignee = None
    conversation.save(update_fields=["assignee"])
    data = {"from": _user_ref(previous)}
    if reason:
        data["reason"] = reason
    record_event(conversation, kind=Event.Kind.UNASSIGNED, actor=actor, data=data, now=now)
    _announce(conversation, Event.Kind.UNASSIGNED, actor)
    return conversation


# --- tags, topics, notes -----------------------------------------------------------------------


def _change_label(conversation, *, manager_name, item, add, kind, actor, now) -> Conversation:
    _require(actor, Cap.ANNOTATE, conversation)
    # Lock so two agents adding the same tag at once cannot both insert the through row.
    _lock(conversation)
    manager = getattr(conversation, manager_name)
    present = manager.filter(pk=item.pk).exists()
    if present == add:
        return conversation
    (manager.add if add else manager.remove)(item)
    record_event(
        conversation,
        kind=kind,
        actor=actor,
        data={"id": item.pk, "name": item.name},
        now=now or timezone.now(),
    )
    _announce(conversation, kind, actor)
    return conversation


@transaction.atomic
def add_tag(
    conversation: Conversation, *, tag: Tag, actor: AbstractBaseUser | None,
    now: datetime | None = None,
) -> Conversation:
    """Tag the conversation (Cap.ANNOTATE); a tag already there is a no-op without an event."""
    return _change_label(
        conversation, manager_name="tags", item=tag, add=True,
        kind=Event.Kind.TAG_ADDED, actor=actor, now=now,
    )


@transaction.atomic
def remove_tag(
    conversation: Conversation, *, tag: Tag, actor: AbstractBaseUser | None,
    now: datetime | None = None,
) -> Conversation:
    """Remove a tag (Cap.ANNOTATE); a tag not there is a no-op without an event."""
    return _change_label(
        conversation, manager_name="tags", item=tag, add=False,
        kind=Event.Kind.TAG_REMOVED, actor=actor, now=now,
    )


@transaction.atomic
def add_topic(
    conversation: Conversation, *, topic: Topic, actor: AbstractBaseUser | None,
    now: datetime | None = None,
) -> Conversation:
    """Add a topic (Cap.ANNOTATE); a topic already there is a no-op without an event."""
    return _change_label(
        conversation, manager_name="topics", item=topic, add=True,
        kind=Event.Kind.TOPIC_ADDED, actor=actor, now=now,
    )


@transaction.atomic
def remove_topic(
    conversation: Conversation, *, topic: Topic, actor: AbstractBaseUser | None,
    now: datetime | None = None,
) -> Conversation:
    """Remove a topic (Cap.ANNOTATE); a topic not there is a no-op without an event."""
    return _change_label(
        conversation, manager_name="topics", item=topic, add=False,
        kind=Event.Kind.TOPIC_REMOVED, actor=actor, now=now,
    )


@transaction.atomic
def add_note(
    conversation: Conversation, *, body: str, actor: AbstractBaseUser,
    now: datetime | None = None,
) -> Note:
    """Add an internal note, never sent to the customer (Cap.ANNOTATE; DomainError when empty).

    A note is not customer activity: last_activity_at (and so auto-resolve) is left alone.
    """
    now = now or timezone.now()
    _require(actor, Cap.ANNOTATE, conversation)
    body = (body or "").strip()
    if not body:
        raise DomainError(str(EMPTY_NOTE))
    if len(body) > MAX_NOTE_LENGTH:
        raise DomainError(str(NOTE_TOO_LONG))
    note = Note.objects.create(conversation=conversation, author=actor, body=body, created_at=now)
    record_event(
        conversation, kind=Event.Kind.NOTE_ADDED, actor=actor, data={"note": note.pk}, now=now
    )
    _announce(conversation, Event.Kind.NOTE_ADDED, actor)
    return note
