"""Message templates: drafts written in the admin, submitted to Meta, synced back from the API.

Provider calls happen outside transactions; each write is one short transaction afterwards.
Template identity at Meta is (business account, name, language); ours is (channel, name,
language), so channels sharing a business account each keep their own copy. See docs/whatsapp.md.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from channels_app.models import Channel, MessageTemplate
from channels_app.whatsapp.client import WhatsAppClient
from channels_app.whatsapp.errors import WhatsAppError

logger = logging.getLogger(__name__)

# Meta: lowercase letters, digits and underscores, at most 512 characters.
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,511}$")
PLACEHOLDER_RE = re.compile(r"\{\{\s*(\d+)\s*\}\}")
Status = MessageTemplate.Status

# message_template_status_update events → our status. LOCKED/UNLOCKED say nothing about sending.
STATUS_FOR_EVENT = {
    "APPROVED": Status.APPROVED,
    "REJECTED": Status.REJECTED,
    "PENDING": Status.PENDING,
    "FLAGGED": Status.FLAGGED,
    "PAUSED": Status.PAUSED,
    "DISABLED": Status.DISABLED,
    "REINSTATED": Status.APPROVED,
    "UNARCHIVED": Status.APPROVED,
    "IN_APPEAL": Status.IN_APPEAL,
    "PENDING_DELETION": Status.PENDING_DELETION,
    "DELETED": Status.DELETED,
    "ARCHIVED": Status.ARCHIVED,
    "LIMIT_EXCEEDED": Status.LIMIT_EXCEEDED,
}
NO_STATUS_CHANGE = {"LOCKED", "UNLOCKED"}


class TemplateError(Exception):
    """A template could not be submitted; ``message`` is shown to the admin as it is."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass
class SyncResult:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    failed_channels: int = 0

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def validate_draft(template: MessageTemplate) -> None:
    """Check locally what Meta would reject at once; raises ValidationError per field."""
    errors: dict[str, list] = defaultdict(list)
    if not NAME_RE.match(template.name or ""):
        errors["name"].append(
            _("Use lowercase letters, digits and underscores, starting with a letter.")
        )
    components = template.components
    if not isinstance(components, list) or not all(isinstance(c, dict) for c in components):
        errors["components"].append(_("Components must be a list of objects."))
    else:
        bodies = [c for c in components if str(c.get("type", "")).upper() == "BODY"]
        if len(bodies) != 1 or not str(bodies[0].get("text", "")).strip():
            errors["components"].append(_("A template needs exactly one BODY with text."))
        else:
            numbers = sorted({int(n) for n in PLACEHOLDER_RE.findall(bodies[0]["text"])})
            if numbers != list(range(1, len(numbers) + 1)):
                errors["components"].append(
                    _("Placeholders must be numbered {{1}}, {{2}}, … without gaps.")
                )
            elif numbers and not (bodies[0].get("example") or {}).get("body_text"):
                errors["components"].append(
                    _('Give an example for every placeholder: "example": {"body_text": [[…]]}.')
                )
    if errors:
        raise ValidationError(dict(errors))


@transaction.atomic
def save_draft(template: MessageTemplate) -> MessageTemplate:
    """Save a template written in the admin as a DRAFT after the local checks."""
    if template.pk and template.status != Status.DRAFT:
        raise ValidationError(_("Only drafts can be edited; this template is synced from Meta."))
    validate_draft(template)
    template.status = Status.DRAFT
    template.save()
    return template


def submit_template(template: MessageTemplate, *, client: WhatsAppClient | None = None):
    """Submit a DRAFT to Meta for review and store the id and status it answers.

    Claims the draft first (DRAFT → PENDING, conditional UPDATE) so a double click submits once;
    a refusal puts it back to DRAFT and raises TemplateError with Meta's explanation.
    """
    validate_draft(template)
    claimed = MessageTemplate.objects.filter(pk=template.pk, status=Status.DRAFT).update(
        status=Status.PENDING, updated_at=timezone.now()
    )
    if not claimed:
        raise TemplateError(_("Only drafts can be submitted for review."))
    channel = template.channel
    client = client or WhatsAppClient.for_channel(channel)
    try:
        answer = client.create_template(
            channel.waba_id,
            name=template.name,
            language=template.language,
            category=template.category,
            components=template.components,
            parameter_format=template.parameter_format or "POSITIONAL",
        )
    except WhatsAppError as error:
        MessageTemplate.objects.filter(pk=template.pk).update(status=Status.DRAFT)
        raise TemplateError(str(error.user_message)) from error
    status = str(answer.get("status") or Status.PENDING).upper()
    MessageTemplate.objects.filter(pk=template.pk).update(
        provider_id=str(answer.get("id") or ""),
        status=status if status in Status.values else Status.OTHER,
        updated_at=timezone.now(),
    )
    template.refresh_from_db()
    return template


def sync_templates(channel: Channel, *, client: WhatsAppClient | None = None) -> SyncResult:
    """Pull one channel's templates from the API and upsert them (network first, then one write)."""
    client = client or WhatsAppClient.for_channel(channel)
    return store_synced(channel, client.list_templates(channel.waba_id))


def sync_all_templates() -> SyncResult:
    """Sync every active WhatsApp channel, fetching each business account once per token.

    A channel whose API call fails is logged and counted; the others still sync.
    """
    total = SyncResult()
    groups: dict[tuple[str, str], list[Channel]] = defaultdict(list)
    for channel in Channel.objects.filter(kind=Channel.Kind.WHATSAPP, is_active=True).exclude(
        Q(waba_id="") | Q(access_token="")
    ):
        groups[(channel.waba_id, channel.access_token)].append(channel)
    for (waba_id, token), channels in groups.items():
        try:
            remote = WhatsAppClient(token).list_templates(waba_id)
        except WhatsAppError as error:
            logger.warning("template sync for WABA %s failed: %r", waba_id, error)
            total.failed_channels += len(channels)
            continue
        for channel in channels:
            result = store_synced(channel, remote)
            total.created += result.created
            total.updated += result.updated
            total.deleted += result.deleted
    return total


@transaction.atomic
def store_synced(channel: Channel, remote: list[dict]) -> SyncResult:
    """Upsert the API's templates for a channel; synced ones that disappeared become DELETED."""
    result = SyncResult()
    existing = {
        (t.name, t.language): t
        for t in MessageTemplate.objects.select_for_update().filter(channel=channel)
    }
    seen = set()
    now = timezone.now()
    for item in remote:
        name, language = item.get("name"), item.get("language")
        if not isinstance(name, str) or not isinstance(language, str):
            continue
        seen.add((name, language))
        status = str(item.get("status") or "").upper()
        quality = item.get("quality_score")
        reason = str(item.get("rejected_reason") or "")
        values = {
            "provider_id": str(item.get("id") or ""),
            "category": str(item.get("category") or MessageTemplate.Category.UTILITY)[:32],
            "status": status if status in Status.values else Status.OTHER,
            "components": item.get("components")
            if isinstance(item.get("components"), list)
            else [],
            "parameter_format": str(item.get("parameter_format") or "POSITIONAL")[:16],
            "rejection_reason": "" if reason in ("", "NONE") else reason[:255],
            "quality_score": str(quality.get("score", ""))[:16]
            if isinstance(quality, dict)
            else "",
        }
        template = existing.get((name, language))
        if template is None:
            MessageTemplate.objects.create(channel=channel, name=name, language=language, **values)
            result.created += 1
        elif any(getattr(template, k) != v for k, v in values.items()):
            for key, value in values.items():
                setattr(template, key, value)
            template.save()
            result.updated += 1
    gone = [
        t.pk
        for key, t in existing.items()
        if key not in seen and t.provider_id and t.status != Status.DELETED
    ]
    result.deleted = MessageTemplate.objects.filter(pk__in=gone).update(
        status=Status.DELETED, updated_at=now
    )
    return result


@transaction.atomic
def apply_template_status(
    *,
    waba_id: str,
    template_id: str,
    name: str,
    language: str,
    event: str,
    reason: str = "",
    event_at: datetime | None = None,
) -> int:
    """Apply a message_template_status_update to every channel's copy; returns rows changed.

    Status webhooks arrive in any order: ``event_at`` (when Meta decided it, the entry's time;
    the receive time when it has none) is kept per template, and an event older than the one
    applied last changes nothing (a late APPROVED must not undo a newer PAUSED). One UPDATE with
    the condition in its WHERE, so two deliveries at once cannot both win.
    """
    event = event.upper()
    if event in NO_STATUS_CHANGE:
        return 0
    status = STATUS_FOR_EVENT.get(event, Status.OTHER)
    event_at = event_at or timezone.now()
    match = Q(provider_id=template_id)
    if name and language:
        match |= Q(name=name, language=language)
    not_older = Q(status_event_at__isnull=True) | Q(status_event_at__lte=event_at)
    templates = MessageTemplate.objects.filter(match, channel__waba_id=waba_id)
    changed = templates.filter(not_older).update(
        status=status,
        rejection_reason=reason[:255] if status == Status.REJECTED else "",
        status_event_at=event_at,
        updated_at=timezone.now(),
    )
    if not changed and templates.exists():
        logger.info(
            "template %s status event %s of %s ignored: a newer one was applied",
            template_id,
            event,
            event_at.isoformat(),
        )
    return changed
