"""Channel health: what WhatsApp says about a channel's number, account, templates and token.

Writers (each one short transaction; every change is a ``HealthEvent``, logged at once, and
announced after commit through ``alert`` so a screen can show it within seconds):

- ``apply_quality_update``: ``phone_number_quality_update`` (quality flag, messaging-limit tier);
- ``apply_account_update``: ``account_update`` (restrictions, violations, disabling, bans);
- ``record_template_status`` / ``apply_template_quality``: a template paused, disabled, flagged,
  reinstated, or its quality score changed (the status itself is template_services' job: a
  paused template is no longer sendable, so it leaves the agents' picker at once);
- ``record_token_failure`` / ``token_works``: a Graph call answered 401 or code 190, and the
  first call that worked again (or an admin's new token).

``ChannelHealth`` holds the latest state per channel (the admin's channel page and the health
panel read it). See docs/channel-health.md.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from channels_app.health_models import ChannelHealth, HealthEvent
from channels_app.models import Channel, MessageTemplate
from channels_app.whatsapp.errors import InvalidToken

logger = logging.getLogger(__name__)

# kwargs: event_id, channel_id, kind, severity, summary (plain values), sent after commit.
alert = Signal()

Severity = HealthEvent.Severity
Kind = HealthEvent.Kind

QUALITY_FOR_EVENT = {"FLAGGED": ChannelHealth.Quality.RED, "UNFLAGGED": ChannelHealth.Quality.GREEN}
TEMPLATE_SEVERITY = {
    "PAUSED": Severity.WARNING,
    "FLAGGED": Severity.WARNING,
    "DISABLED": Severity.CRITICAL,
    "REINSTATED": Severity.INFO,
    "UNARCHIVED": Severity.INFO,
}
ACCOUNT_STATUS = {
    "ACCOUNT_RESTRICTION": "RESTRICTED",
    "ACCOUNT_DELETED": "DELETED",
}


def _state(channel: Channel, now: datetime) -> ChannelHealth:
    state, _created = ChannelHealth.objects.select_for_update().get_or_create(
        channel=channel, defaults={"updated_at": now}
    )
    return state


def _record(channel: Channel, *, kind: str, severity: int, summary: str, data: dict,
            now: datetime) -> HealthEvent:  # fmt: skip
    event = HealthEvent.objects.create(
        channel=channel, kind=kind, severity=severity, summary=summary[:300], data=data,
        created_at=now,
    )  # fmt: skip
    log = logger.warning if severity >= Severity.WARNING else logger.info
    log("channel health: %s: %s [%s]", channel.display_name, summary, kind)
    values = {"event_id": event.pk, "channel_id": channel.pk, "kind": kind,
              "severity": int(severity), "summary": summary}  # fmt: skip

    def send() -> None:
        for receiver, result in alert.send_robust(sender=None, **values):
            if isinstance(result, Exception):
                logger.error("health alert receiver %r failed", receiver, exc_info=result)

    transaction.on_commit(send)
    return event


def _digits(number: str) -> str:
    return "".join(ch for ch in number or "" if ch.isdigit())


def channels_for(waba_id: str, display_phone_number: str = "") -> list[Channel]:
    """The channels a WABA-level webhook is about: the one with this display number when it
    names one we know, else every channel of the business account."""
    channels = list(Channel.objects.filter(waba_id=waba_id)) if waba_id else []
    wanted = _digits(display_phone_number)
    if wanted:
        exact = [c for c in channels if _digits(c.display_phone_number) == wanted]
        if exact:
            return exact
        if not channels:
            channels = [
                c for c in Channel.objects.exclude(display_phone_number="")
                if _digits(c.display_phone_number) == wanted
            ]  # fmt: skip
    return channels


@transaction.atomic
def apply_quality_update(*, waba_id: str, display_phone_number: str, event: str,
                         current_limit: str = "", old_limit: str = "",
                         now: datetime | None = None) -> int:  # fmt: skip
    """phone_number_quality_update: the number's quality flag and messaging-limit tier."""
    now = now or timezone.now()
    event = (event or "").upper()[:32]
    channels = channels_for(waba_id, display_phone_number)
    for channel in channels:
        state = _state(channel, now)
        state.quality_event = event
        if event in QUALITY_FOR_EVENT:
            state.quality_rating = QUALITY_FOR_EVENT[event]
        if current_limit:
            state.messaging_limit = current_limit[:32]
        state.updated_at = now
        state.save()
        if event == "FLAGGED":
            kind, severity = Kind.QUALITY, Severity.CRITICAL
            summary = "Quality rating low (number flagged); the messaging limit may be lowered"
        elif event == "DOWNGRADE":
            kind, severity = Kind.LIMIT, Severity.WARNING
            summary = f"Messaging limit lowered to {current_limit or '?'}"
        elif event == "UNFLAGGED":
            kind, severity, summary = Kind.QUALITY, Severity.INFO, "Quality rating back to high"
        else:
            kind, severity = Kind.LIMIT, Severity.INFO
            summary = f"Messaging limit {event.lower()}: {current_limit or '?'}"
        _record(channel, kind=kind, severity=severity, summary=summary, now=now, data={
            "event": event, "current_limit": current_limit, "old_limit": old_limit,
            "display_phone_number": display_phone_number,
        })  # fmt: skip
    if not channels:
        logger.warning("phone_number_quality_update for an unknown number %s (WABA %s)",
                       display_phone_number, waba_id)  # fmt: skip
    return len(channels)


def _restriction_end(value: dict) -> datetime | None:
    for item in value.get("restriction_info") or []:
        seconds = item.get("expiration") if isinstance(item, dict) else None
        if isinstance(seconds, int | str) and str(seconds).isdigit():
            return datetime.fromtimestamp(int(seconds), tz=UTC)
    return None


@transaction.atomic
def apply_account_update(*, waba_id: str, event: str, value: dict,
                         now: datetime | None = None) -> int:  # fmt: skip
    """account_update: restrictions, violations, disabling and bans of the business account."""
    now = now or timezone.now()
    event = (event or "").upper()[:40]
    channels = channels_for(waba_id, str(value.get("phone_number") or ""))
    ban = value.get("ban_info") if isinstance(value.get("ban_info"), dict) else {}
    violation = value.get("violation_info") if isinstance(value.get("violation_info"), dict) else {}
    restrictions = [
        str(r.get("restriction_type")) for r in value.get("restriction_info") or []
        if isinstance(r, dict) and r.get("restriction_type")
    ]  # fmt: skip
    for channel in channels:
        state = _state(channel, now)
        severity, status, detail = Severity.INFO, None, ""
        if event == "ACCOUNT_RESTRICTION":
            severity, status = Severity.CRITICAL, "RESTRICTED"
            detail = ", ".join(restrictions)
            state.restricted_until = _restriction_end(value)
        elif event == "DISABLED_UPDATE":
            ban_state = str(ban.get("waba_ban_state") or value.get("decision") or "").upper()
            if ban_state in ("REINSTATE", "REINSTATED", "APPROVED"):
                status, detail = "", ban_state
            else:
                severity, status, detail = Severity.CRITICAL, "DISABLED", ban_state
        elif event == "ACCOUNT_VIOLATION":
            severity, detail = Severity.WARNING, str(violation.get("violation_type") or "")
        elif event in ACCOUNT_STATUS:
            severity, status = Severity.CRITICAL, ACCOUNT_STATUS[event]
        if status is not None:
            state.account_status = status
            state.account_detail = detail[:500]
            if not status:
                state.restricted_until = None
        state.updated_at = now
        state.save()
        what = event.removeprefix("ACCOUNT_").replace("_", " ").lower()
        summary = f"Account {what}" + (f": {detail}" if detail else "")
        _record(channel, kind=Kind.ACCOUNT, severity=severity, summary=summary, now=now,
                data={"event": event, "value": value})  # fmt: skip
    if not channels:
        logger.warning("account_update %s for an unknown business account %s", event, waba_id)
    return len(channels)


def record_template_status(templates, *, event: str, reason: str = "",
                           now: datetime | None = None) -> None:  # fmt: skip
    """A template's status event worth an alert (paused, disabled, flagged, reinstated)."""
    severity = TEMPLATE_SEVERITY.get((event or "").upper())
    if severity is None:
        return
    now = now or timezone.now()
    for template in templates:
        summary = f"Template {template.name} ({template.language}) {event.lower()}"
        _record(template.channel, kind=Kind.TEMPLATE, severity=severity, now=now,
                summary=summary + (f": {reason}" if reason else ""),
                data={"template": template.pk, "event": event, "reason": reason,
                      "name": f"{template.name} ({template.language})"})  # fmt: skip


@transaction.atomic
def apply_template_quality(*, waba_id: str, template_id: str, name: str, language: str,
                           new_score: str, previous_score: str = "",
                           now: datetime | None = None) -> int:  # fmt: skip
    """message_template_quality_update: store the score; alert on medium or low."""
    now = now or timezone.now()
    new_score = (new_score or "").upper()[:16]
    match = MessageTemplate.objects.filter(channel__waba_id=waba_id, provider_id=template_id)
    if not match.exists() and name and language:
        match = MessageTemplate.objects.filter(
            channel__waba_id=waba_id, name=name, language=language
        )
    templates = list(match.select_related("channel"))
    for template in templates:
        MessageTemplate.objects.filter(pk=template.pk).update(quality_score=new_score)
        severity = {"RED": Severity.CRITICAL, "YELLOW": Severity.WARNING}.get(
            new_score, Severity.INFO
        )
        _record(template.channel, kind=Kind.TEMPLATE, severity=severity, now=now,
                summary=f"Template {template.name} ({template.language}) quality "
                        f"{previous_score or '?'} → {new_score}",
                data={"template": template.pk, "new": new_score, "previous": previous_score,
                      "name": f"{template.name} ({template.language})"})
    return len(templates)  # fmt: skip


@transaction.atomic
def record_token_failure(channel_id: int, *, code: int | None, error: str,
                         now: datetime | None = None) -> bool:  # fmt: skip
    """A Graph call with this channel's token was refused (401 / code 190); True when this
    is news (the first failure since it last worked)."""
    now = now or timezone.now()
    channel = Channel.objects.filter(pk=channel_id).first()
    if channel is None:
        return False
    state = _state(channel, now)
    if state.token_failed_at is not None:
        return False
    state.token_failed_at, state.token_error, state.updated_at = now, error[:255], now
    state.save()
    _record(channel, kind=Kind.TOKEN, severity=Severity.CRITICAL, now=now,
            summary=f"The access token stopped working (code {code}): {error[:150]}",
            data={"code": code})  # fmt: skip
    return True


@transaction.atomic
def token_works(channel_id: int, *, why: str = "a call succeeded",
                now: datetime | None = None) -> bool:  # fmt: skip
    """Clear a token failure (a call worked again, or an admin saved a new token)."""
    now = now or timezone.now()
    state = ChannelHealth.objects.select_for_update().filter(
        channel_id=channel_id, token_failed_at__isnull=False
    ).select_related("channel").first()
    if state is None:
        return False
    state.token_failed_at, state.token_error, state.updated_at = None, "", now
    state.save()
    _record(state.channel, kind=Kind.TOKEN, severity=Severity.INFO, now=now,
            summary=f"The access token works again ({why})", data={})  # fmt: skip
    return True


def client_outcome(channel_id: int, error) -> None:
    """``channels_app.whatsapp.client.token_listeners``: after each Graph call for a channel."""
    if error is None:
        if ChannelHealth.objects.filter(
            channel_id=channel_id, token_failed_at__isnull=False
        ).exists():
            token_works(channel_id)
        return
    if isinstance(error, InvalidToken) or error.http_status == 401:
        record_token_failure(channel_id, code=error.code, error=str(error.details or error.title
                                                                    or error.message))
