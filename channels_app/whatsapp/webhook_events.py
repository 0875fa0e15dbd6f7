"""What the webhook parser (``channels_app.whatsapp.webhooks``) produces and checks with: the
typed events, ``MalformedPayload``, the column limits and the small value validators. Split from
the parser to keep each module readable; the parser re-exports every name, so callers keep
using ``webhooks.InboundMessage`` and friends. See docs/whatsapp.md.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# The parser's messages are the transports' medium-neutral value object (issue 14): what the
# parser produces is what the inbound services store.
from channels_app.transports import InboundMessage, MalformedRequest

# Column limits of the tables the events end up in: refuse rather than cut.
MAX_ID = 128
MAX_WA_ID = 32
MAX_BSUID = 64
MAX_NAME = 255
MAX_TEXT = 65536
# Unix seconds between 2001 and 2286: anything else is not a WhatsApp timestamp.
MIN_TS, MAX_TS = 1_000_000_000, 9_999_999_999
WA_ID_RE = re.compile(r"^\d{1,32}$")


class MalformedPayload(MalformedRequest):
    """The body is not JSON or not the shape of a WhatsApp webhook; ``reason`` says where."""


@dataclass(frozen=True)
class StatusError:
    code: int | None
    title: str = ""
    details: str = ""


@dataclass(frozen=True)
class StatusUpdate:
    phone_number_id: str
    provider_message_id: str
    status: str
    timestamp: datetime
    recipient_id: str = ""
    callback_data: str = ""
    errors: tuple[StatusError, ...] = ()
    # Meta's pricing block ({billable, pricing_model, category, type}), read-only values kept
    # as sent; None when the status has none (failed statuses never do).
    pricing: dict | None = None

    @property
    def error(self) -> StatusError | None:
        return self.errors[0] if self.errors else None


@dataclass(frozen=True)
class TemplateStatusUpdate:
    waba_id: str
    template_id: str
    name: str
    language: str
    event: str
    reason: str = ""
    # When Meta decided it (the entry's ``time``); None when the entry has none.
    event_at: datetime | None = None


@dataclass(frozen=True)
class Ignored:
    """A change the desk does not act on (other webhook fields, out-of-band errors)."""

    field: str
    waba_id: str
    why: str


@dataclass(frozen=True)
class Skipped:
    """A part of the body that could not be read and holds nothing to store: a status, a
    template event, a change or entry without its routing, a message naming no sender. The
    receiver logs it; the rest of the batch goes on."""

    where: str
    reason: str
    raw: str = ""


@dataclass(frozen=True)
class NumberQualityUpdate:
    """``phone_number_quality_update``: the number's quality flag and messaging-limit tier."""

    waba_id: str
    display_phone_number: str
    event: str
    current_limit: str = ""
    old_limit: str = ""
    event_at: datetime | None = None


@dataclass(frozen=True)
class AccountUpdate:
    """``account_update``: an event of the business account (restriction, violation, ban, …);
    ``value`` is Meta's object as sent (checked storable)."""

    waba_id: str
    event: str
    value: dict = field(default_factory=dict)
    event_at: datetime | None = None


@dataclass(frozen=True)
class TemplateQualityUpdate:
    """``message_template_quality_update``: a template's quality score changed."""

    waba_id: str
    template_id: str
    name: str
    language: str
    new_score: str
    previous_score: str = ""
    event_at: datetime | None = None


@dataclass(frozen=True)
class MarketingPreference:
    """``user_preferences``: a customer stopped ("stop") or resumed ("resume") marketing."""

    phone_number_id: str
    wa_id: str
    value: str
    detail: str = ""
    timestamp: datetime | None = None


Event = (
    InboundMessage | StatusUpdate | TemplateStatusUpdate | Ignored | Skipped
    | NumberQualityUpdate | AccountUpdate | TemplateQualityUpdate | MarketingPreference
)

# How much of an unreadable message's JSON is kept on it.
MAX_RAW = 256 * 1024


# --- small validators (the parser imports them under their old private names) ---------------
def check_storable(value: Any, where: str, depth: int = 0) -> None:
    """Refuse what no database column can hold: NUL characters, lone surrogates, deep nesting."""
    if depth > 64:
        raise MalformedPayload(f"{where} is nested too deeply")
    if isinstance(value, str):
        if "\x00" in value:
            raise MalformedPayload(f"{where} contains a NUL character")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise MalformedPayload(f"{where} is not valid Unicode") from exc
    elif isinstance(value, dict):
        for key, item in value.items():
            check_storable(key, where, depth + 1)
            check_storable(item, f"{where}.{key}"[:200], depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            check_storable(item, f"{where}[{i}]"[:200], depth + 1)
    elif isinstance(value, float) and not math.isfinite(value):
        raise MalformedPayload(f"{where} is not a finite number")


def storable_text(value: str) -> bool:
    try:
        check_storable(value, "")
    except MalformedPayload:
        return False
    return True


def raw_json(value: Any) -> str:
    """A part of the body as JSON text for the record: ASCII-escaped, so NUL characters and
    lone surrogates survive as escapes that any column holds."""
    try:
        return json.dumps(value, ensure_ascii=True, sort_keys=True)
    except (ValueError, TypeError, RecursionError):
        return repr(value)[:MAX_RAW]


def optional_timestamp(value: Any) -> datetime | None:
    try:
        return timestamp_at(value, "")
    except MalformedPayload:
        return None


def list_at(obj: dict, key: str, where: str, *, required: bool = True) -> list:
    value = obj.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise MalformedPayload(f"{where}.{key} is not a list")
    return value


def object_at(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise MalformedPayload(f"{where} is not an object")
    return value


def id_at(value: Any, where: str, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_ID:
        raise MalformedPayload(f"{where} is not an id (a non-empty string of at most {MAX_ID})")
    return value


def text_at(value: Any, where: str, limit: int, *, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise MalformedPayload(f"{where} is not a string")
    if len(value) > limit:
        raise MalformedPayload(f"{where} is longer than {limit} characters")
    return value


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def timestamp_at(value: Any, where: str) -> datetime:
    if not isinstance(value, str | int) or isinstance(value, bool) or not str(value).isdigit():
        raise MalformedPayload(f"{where} is not Unix seconds")
    seconds = int(value)
    if not MIN_TS <= seconds <= MAX_TS:
        raise MalformedPayload(f"{where} is out of range")
    return datetime.fromtimestamp(seconds, tz=UTC)
