"""Edits and deletions of stored messages, and the job that erases what was deleted.

A customer (or the business, from the WhatsApp Business app) may edit a message's text or
caption, or delete it. Meta sends each as a message of its own (``type: "edit"`` / ``"revoke"``)
that names the original by its wamid; webhooks come in any order, so a change can arrive before
its original: it is parked (``ParkedChange``) and applied when the original is stored
(``apply_parked``, called by ``services.receive_inbound`` and the echo path).

- **Edit**: the message shows the newest text; every version (the original first) is kept in
  ``payload["versions"]`` as ``{"body", "at", "wamid"}``, ordered by Meta's timestamp, so edits
  delivered out of order still end on the latest one. An edit seen before (its wamid) is a no-op.
- **Deletion**: ``revoked_at`` is set and the page shows "deleted by the customer" instead of the
  text; the text, its versions and the attachment are kept for Supervisors
  (``access.Cap.SEE_DELETED``) for ``DELETED_MESSAGE_RETENTION``, then ``erase_deleted_batch``
  removes them (beat, hourly). A second deletion is a no-op.

This module knows only the models (services import it); see docs/conversation-lifecycle.md.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from functools import partial

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from conversations.models import Conversation, Message, ParkedChange
from conversations.services import announcements

PREVIEW_LENGTH = 200
# What the inbox preview says of a deleted message (the text itself is not for every agent).
DELETED_PREVIEW = "[deleted]"
# payload keys that carry the content of a message; erased with its text.
CONTENT_KEYS = ("caption", "file", "file_size", "file_type", "filename", "versions", "sha256")


def _iso(at: datetime) -> str:
    return at.isoformat()


def _refresh_preview(message: Message) -> None:
    """The inbox preview follows the conversation's newest message: redo it when that is this
    one (an edit changes the text, a deletion hides it)."""
    newest = (
        Message.objects.filter(conversation_id=message.conversation_id)
        .order_by("-created_at", "-id")
        .values_list("pk", flat=True)
        .first()
    )
    if newest != message.pk:
        return
    if message.revoked_at is not None:
        preview = DELETED_PREVIEW
    else:
        preview = " ".join((message.body or "").split())[:PREVIEW_LENGTH]
    Conversation.objects.filter(pk=message.conversation_id).update(last_message_preview=preview)


def _locked(message: Message) -> Message:
    """The message reloaded under a row lock, its conversation's row locked first (the lock
    order of every service: the preview may change)."""
    Conversation.objects.select_for_update(no_key=True).filter(pk=message.conversation_id).exists()
    return Message.objects.select_for_update().get(pk=message.pk)


def apply_edit(
    message: Message, *, change_id: str, body: str, sent_at: datetime, now: datetime
) -> bool:
    """Give ``message`` the text (or caption) of an edit; False when this edit was applied before.

    Locks the conversation row, then the message (docs/concurrency.md). The earlier text stays
    in ``payload["versions"]``.
    """
    with transaction.atomic():
        message = _locked(message)
        payload = dict(message.payload or {})
        versions = list(payload.get("versions") or [])
        if not versions:
            original_at = message.sent_at or message.created_at
            wamid = message.provider_message_id
            versions = [{"body": message.body, "at": _iso(original_at), "wamid": wamid}]
        if any(v.get("wamid") == change_id for v in versions):
            return False
        versions.append({"body": body, "at": _iso(sent_at), "wamid": change_id})
        versions.sort(key=lambda v: v.get("at") or "")
        payload["versions"] = versions
        message.body = versions[-1]["body"]
        if "caption" in payload or message.type in ("image", "video", "document"):
            payload["caption"] = message.body
        message.payload = payload
        message.edited_at = max(filter(None, (message.edited_at, sent_at)))
        message.save(update_fields=["body", "payload", "edited_at"])
        _refresh_preview(message)
        announcements.message_changed([message.pk], change="edited")
    return True


def apply_revoke(message: Message, *, change_id: str, sent_at: datetime, now: datetime) -> bool:
    """Mark ``message`` deleted by its sender; False when it already was. Locks as apply_edit."""
    with transaction.atomic():
        message = _locked(message)
        if message.revoked_at is not None:
            return False
        message.revoked_at = sent_at
        message.payload = {**(message.payload or {}), "revoked_by": change_id}
        message.save(update_fields=["revoked_at", "payload"])
        _refresh_preview(message)
        announcements.message_changed([message.pk], change="revoked")
    return True


def park(
    *, channel_id: int, change_id: str, target_id: str, kind: str, data: dict,
    sent_at: datetime, now: datetime,
) -> bool:  # fmt: skip
    """Keep a change whose original is not stored yet; False when it was parked before."""
    _parked, created = ParkedChange.objects.get_or_create(
        channel_id=channel_id,
        provider_message_id=change_id,
        defaults={
            "target_provider_id": target_id,
            "kind": kind,
            "data": data,
            "sent_at": sent_at,
            "created_at": now,
        },
    )
    return created


def apply_change(
    message: Message, *, kind: str, change_id: str, data: dict, sent_at: datetime, now: datetime
) -> bool:
    """An edit or a deletion (``kind``) applied to a stored message."""
    if kind == ParkedChange.Kind.REVOKE:
        return apply_revoke(message, change_id=change_id, sent_at=sent_at, now=now)
    return apply_edit(
        message, change_id=change_id, body=data.get("body", ""), sent_at=sent_at, now=now
    )


def same_sender(message: Message, data: dict) -> bool:
    """Whether a change (``data["outbound"]``: the business made it) may touch ``message``: a
    customer edits or deletes only their own messages, the business only its own."""
    outbound = message.direction == Message.Direction.OUTBOUND
    return bool(data.get("outbound", False)) == outbound


def apply_parked(message: Message, *, now: datetime | None = None) -> int:
    """Apply (then drop) the changes that arrived before ``message``; returns how many applied.

    Runs in its own transaction; the changes' order is Meta's timestamps.
    """
    now = now or timezone.now()
    applied = 0
    with transaction.atomic():
        parked = list(
            ParkedChange.objects.select_for_update()
            .filter(channel_id=message.channel_id, target_provider_id=message.provider_message_id)
            .order_by("sent_at", "pk")
        )
        for change in parked:
            if not same_sender(message, change.data):
                continue  # another sender's change: dropped with the rest
            applied += apply_change(
                message,
                kind=change.kind,
                change_id=change.provider_message_id,
                data=change.data,
                sent_at=change.sent_at,
                now=now,
            )
        ParkedChange.objects.filter(pk__in=[c.pk for c in parked]).delete()
    if applied:
        message.refresh_from_db()
    return applied


# --- the erase job -----------------------------------------------------------------------------


def erase_deleted_batch(*, now: datetime, batch_size: int | None = None) -> int:
    """Erase the kept text, versions and file of up to ``batch_size`` messages deleted before
    ``now - DELETED_MESSAGE_RETENTION``; returns how many. Files go after commit.

    Claims the rows with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (two runs split the work) and
    re-states the condition in the UPDATE; one short transaction per batch (msg_revoked_to_erase).
    """
    batch_size = batch_size or settings.ERASE_DELETED_BATCH_SIZE
    cutoff = now - settings.DELETED_MESSAGE_RETENTION
    skip_locked = connection.features.has_select_for_update_skip_locked
    with transaction.atomic():
        rows = list(
            Message.objects.filter(revoked_at__lt=cutoff, erased_at__isnull=True)
            .select_for_update(skip_locked=skip_locked)
            .order_by("revoked_at")
            .only("pk", "payload")[:batch_size]
        )
        files = []
        for message in rows:
            payload = dict(message.payload or {})
            if payload.get("file"):
                files.append(payload["file"])
            message.payload = {k: v for k, v in payload.items() if k not in CONTENT_KEYS}
            message.body = ""
            message.erased_at = now
        Message.objects.bulk_update(rows, ["payload", "body", "erased_at"])
        # What a deleted message kept is gone: shown as deleted, as it already was.
        announcements.message_changed([m.pk for m in rows], change="revoked")
        for path in files:
            transaction.on_commit(partial(_delete_file, path))
    return len(rows)


def _delete_file(path: str) -> None:
    # Already gone, or the storage is read-only: the row no longer points to it either way.
    with contextlib.suppress(OSError):
        default_storage.delete(path)


def erase_deleted(*, now: datetime | None = None, batch_size: int | None = None) -> dict:
    """Run ``erase_deleted_batch`` until nothing is due, apply parked changes whose message came
    after all (``apply_stranded``), and drop changes parked longer than the retention for a
    message that never came; returns the counts (the beat task's body)."""
    now = now or timezone.now()
    erased = 0
    while True:
        done = erase_deleted_batch(now=now, batch_size=batch_size)
        erased += done
        if done < (batch_size or settings.ERASE_DELETED_BATCH_SIZE):
            break
    stranded = apply_stranded(now=now)
    cutoff = now - settings.DELETED_MESSAGE_RETENTION
    dropped, _by_model = ParkedChange.objects.filter(created_at__lt=cutoff).delete()
    return {"erased": erased, "parked_applied": stranded, "parked_dropped": dropped}


def apply_stranded(*, now: datetime, limit: int = 500) -> int:
    """Apply parked changes whose message is stored after all: a change and its original that
    arrived at the same moment each missed the other (neither saw the other's uncommitted row).
    Returns how many messages had changes applied."""
    stored = Message.objects.filter(
        channel_id=OuterRef("channel_id"), provider_message_id=OuterRef("target_provider_id")
    )
    targets = (
        ParkedChange.objects.filter(Exists(stored))
        .values_list("channel_id", "target_provider_id")
        .distinct()[:limit]
    )
    done = 0
    for channel_id, target in list(targets):
        message = Message.objects.filter(channel_id=channel_id, provider_message_id=target).first()
        if message is not None:
            apply_parked(message, now=now)
            done += 1
    return done
