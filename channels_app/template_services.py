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
from itertools import pairwise

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from channels_app import health
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


# Meta's limits (reference/whatsapp-cloud-api.md section 4.2).
MAX_BODY = 1024
MAX_HEADER = 60
MAX_FOOTER = 60
MAX_BUTTONS = 10
MAX_BUTTON_TEXT = 25
MAX_URL = 2000
BUTTON_LIMITS = {"QUICK_REPLY": 10, "URL": 2, "PHONE_NUMBER": 1, "COPY_CODE": 1}
PHONE_RE = re.compile(r"^\+[1-9]\d{6,14}$")
URL_RE = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)


def _variables(text: str) -> list[int]:
    return [int(n) for n in PLACEHOLDER_RE.findall(text)]


def _component(components: list, kind: str) -> dict | None:
    found = [c for c in components if str(c.get("type", "")).upper() == kind]
    return found[0] if found else None


def _check_variables(text: str, examples, errors: dict, *, field: str, example_field: str):
    """{{1}}..{{n}} in order of numbering without gaps, each with a non-empty example."""
    numbers = _variables(text)
    if text.count("{{") != len(numbers) or text.count("}}") != len(numbers):
        errors[field].append(_("Write variables as {{1}}, {{2}}, … (a number in double braces)."))
        return
    if sorted(set(numbers)) != list(range(1, len(set(numbers)) + 1)):
        errors[field].append(_("Variables must be numbered {{1}}, {{2}}, … without gaps."))
    count = len(set(numbers))
    given = [str(e).strip() for e in examples or []]
    if count and (len(given) != count or not all(given)):
        errors[example_field].append(
            ngettext(
                "Give an example value for the variable.",
                "Give an example value for each of the %(count)d variables, one per line.",
                count,
            )
            % {"count": count}
        )


def check_components(components, *, category: str = "") -> dict[str, list]:
    """Meta's rules for a template's header, body, footer and buttons, checked locally.

    Returns the errors keyed by the part they concern: ``header``, ``header_example``,
    ``body``, ``body_examples``, ``footer``, ``buttons`` (the template form's fields), or
    ``components`` for the structure itself. An empty dict: nothing Meta would refuse at once.
    """
    errors: dict[str, list] = defaultdict(list)
    if not isinstance(components, list) or not all(isinstance(c, dict) for c in components):
        errors["components"].append(_("Components must be a list of objects."))
        return dict(errors)
    kinds = [str(c.get("type", "")).upper() for c in components]
    if any(kinds.count(k) > 1 for k in set(kinds)):
        errors["components"].append(_("At most one header, body, footer and set of buttons."))
    if category == MessageTemplate.Category.AUTHENTICATION:
        errors["category"].append(
            _(
                "Authentication templates have a fixed text set by WhatsApp (a code and its "
                "button); create them in WhatsApp Manager."
            )
        )

    body = _component(components, "BODY")
    text = str((body or {}).get("text") or "")
    if not text.strip():
        errors["body"].append(_("A template needs a body text."))
    else:
        if len(text) > MAX_BODY:
            errors["body"].append(
                _("The body can be at most %(max)d characters long (it has %(count)d).")
                % {"max": MAX_BODY, "count": len(text)}
            )
        stripped = text.strip()
        if stripped.startswith("{{") or stripped.endswith("}}"):
            errors["body"].append(_("The body may not start or end with a variable."))
        if re.search(r"\}\}\s*\{\{", text):
            errors["body"].append(_("Two variables may not stand side by side; put words between."))
        example = (body or {}).get("example") or {}
        rows = example.get("body_text") if isinstance(example, dict) else None
        first = rows[0] if isinstance(rows, list) and rows and isinstance(rows[0], list) else []
        _check_variables(text, first, errors, field="body", example_field="body_examples")

    header = _component(components, "HEADER")
    if header is not None:
        if str(header.get("format") or "TEXT").upper() != "TEXT":
            errors["header"].append(_("Only a text header can be written here."))
        else:
            header_text = str(header.get("text") or "")
            if not header_text.strip():
                errors["header"].append(_("A header needs text."))
            if len(header_text) > MAX_HEADER:
                errors["header"].append(
                    _("The header can be at most %(max)d characters long.") % {"max": MAX_HEADER}
                )
            if len(_variables(header_text)) > 1:
                errors["header"].append(_("A header can have at most one variable, {{1}}."))
            else:
                example = header.get("example") or {}
                values = example.get("header_text") if isinstance(example, dict) else None
                _check_variables(
                    header_text, values, errors, field="header", example_field="header_example"
                )

    footer = _component(components, "FOOTER")
    if footer is not None:
        footer_text = str(footer.get("text") or "")
        if len(footer_text) > MAX_FOOTER:
            errors["footer"].append(
                _("The footer can be at most %(max)d characters long.") % {"max": MAX_FOOTER}
            )
        if "{{" in footer_text or "}}" in footer_text:
            errors["footer"].append(_("A footer cannot have variables."))

    block = _component(components, "BUTTONS")
    if block is not None:
        _check_buttons(block.get("buttons"), errors)
    return {k: v for k, v in errors.items() if v}


def _check_buttons(buttons, errors: dict) -> None:
    if not isinstance(buttons, list) or not all(isinstance(b, dict) for b in buttons):
        errors["buttons"].append(_("Buttons must be a list of objects."))
        return
    if len(buttons) > MAX_BUTTONS:
        errors["buttons"].append(
            _("At most %(max)d buttons (there are %(count)d).")
            % {"max": MAX_BUTTONS, "count": len(buttons)}
        )
    kinds = [str(b.get("type", "")).upper() for b in buttons]
    for kind, limit in BUTTON_LIMITS.items():
        if kinds.count(kind) > limit:
            errors["buttons"].append(
                _("At most %(max)d buttons of the kind %(kind)s.") % {"max": limit, "kind": kind}
            )
    quick = [k == "QUICK_REPLY" for k in kinds]
    if sum(1 for a, b in pairwise(quick) if a != b) > 1:
        errors["buttons"].append(_("Quick replies must stand together, not between other buttons."))
    for number, (kind, button) in enumerate(zip(kinds, buttons, strict=True), start=1):
        where = {"n": number}
        if kind not in BUTTON_LIMITS:
            errors["buttons"].append(_("Button %(n)d: unknown kind.") % where)
            continue
        text = str(button.get("text") or "")
        if kind != "COPY_CODE" and not text.strip():
            errors["buttons"].append(_("Button %(n)d needs a text.") % where)
        if len(text) > MAX_BUTTON_TEXT:
            errors["buttons"].append(
                _("Button %(n)d: the text can be at most %(max)d characters long.")
                % {**where, "max": MAX_BUTTON_TEXT}
            )
        if kind == "URL":
            url = str(button.get("url") or "")
            variables = _variables(url)
            if not URL_RE.match(url) or len(url) > MAX_URL:
                errors["buttons"].append(
                    _("Button %(n)d needs a web address (http or https).") % where
                )
            elif len(variables) > 1 or (variables and not url.rstrip().endswith("}}")):
                errors["buttons"].append(
                    _("Button %(n)d: a web address can end with one variable, {{1}}, only.")
                    % where
                )
            elif variables and not [str(e).strip() for e in button.get("example") or [] if e]:
                errors["buttons"].append(
                    _("Button %(n)d: give an example address for its variable.") % where
                )
        elif kind == "PHONE_NUMBER":
            if not PHONE_RE.match(str(button.get("phone_number") or "")):
                errors["buttons"].append(
                    _("Button %(n)d needs a phone number in international form, +491701234567.")
                    % where
                )
        elif kind == "COPY_CODE" and not str(button.get("example") or "").strip():
            errors["buttons"].append(_("Button %(n)d needs an example code.") % where)


def validate_draft(template: MessageTemplate) -> None:
    """Check locally what Meta would reject at once; raises ValidationError per field (the
    template form's fields: name, category, header, body, body_examples, footer, buttons)."""
    errors: dict[str, list] = defaultdict(list)
    if not NAME_RE.match(template.name or ""):
        errors["name"].append(
            _("Use lowercase letters, digits and underscores, starting with a letter.")
        )
    for key, messages in check_components(
        template.components, category=template.category
    ).items():
        errors[key].extend(messages)
    if errors:
        raise ValidationError(dict(errors))


def components_from_parts(
    *,
    header: str = "",
    header_example: str = "",
    body: str = "",
    body_examples: list[str] | None = None,
    footer: str = "",
    buttons: list[dict] | None = None,
) -> list[dict]:
    """The API's ``components`` for a template written as parts (the admin's form)."""
    components: list[dict] = []
    if header:
        component = {"type": "HEADER", "format": "TEXT", "text": header}
        if _variables(header):
            component["example"] = {"header_text": [header_example]}
        components.append(component)
    component = {"type": "BODY", "text": body}
    if _variables(body):
        component["example"] = {"body_text": [list(body_examples or [])]}
    components.append(component)
    if footer:
        components.append({"type": "FOOTER", "text": footer})
    if buttons:
        components.append({"type": "BUTTONS", "buttons": buttons})
    return components


def parts_from_components(components) -> dict:
    """The parts of the admin's form from stored ``components`` (the inverse of
    components_from_parts for what it writes)."""
    components = components if isinstance(components, list) else []
    components = [c for c in components if isinstance(c, dict)]
    header = _component(components, "HEADER") or {}
    body = _component(components, "BODY") or {}
    footer = _component(components, "FOOTER") or {}
    block = _component(components, "BUTTONS") or {}
    header_examples = (header.get("example") or {}).get("header_text") or [""]
    rows = (body.get("example") or {}).get("body_text") or [[]]
    return {
        "header": str(header.get("text") or ""),
        "header_example": str(header_examples[0]) if header_examples else "",
        "body": str(body.get("text") or ""),
        "body_examples": [str(v) for v in (rows[0] if rows and isinstance(rows[0], list) else [])],
        "footer": str(footer.get("text") or ""),
        "buttons": [b for b in block.get("buttons") or [] if isinstance(b, dict)],
    }


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
    elif changed and event in health.TEMPLATE_SEVERITY:
        # Paused, disabled, flagged, reinstated: an alert for the admins (channels_app.health).
        applied = templates.filter(status_event_at=event_at).select_related("channel")
        health.record_template_status(applied, event=event, reason=reason)
    return changed
