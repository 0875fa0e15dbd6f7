"""Webhook authenticity and parsing: raw signed bytes in, plain typed events out.

``verify_signature`` checks ``X-Hub-Signature-256`` over the exact request bytes. ``parse`` turns
a body into a list of events (``InboundMessage``, ``StatusUpdate``, ``TemplateStatusUpdate``,
``Ignored``; the coexistence fields ``smb_message_echoes`` and ``history`` become
``InboundMessage`` events marked by their ``source``). Only a broken envelope raises
``MalformedPayload`` with a reason (``load``); below it every entry, change, message and status
is read on its own, so one that cannot be read never costs the others: a message becomes an
``unreadable`` InboundMessage keeping its raw JSON (``message_or_unreadable``, which new
per-message parsers go through too), anything else a ``Skipped`` event to log. Unknown keys are
ignored and unknown message types become ``unsupported``, because Meta adds fields without
notice. The events, limits and small validators live in ``webhook_events`` (re-exported here).
See docs/whatsapp.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import replace
from typing import Any

from channels_app.whatsapp import health_webhooks, webhook_events
from channels_app.whatsapp.media_policy import is_media_id, strip_bidi
from channels_app.whatsapp.webhook_events import (  # noqa: F401 - re-exported
    MAX_BSUID,
    MAX_ID,
    MAX_NAME,
    MAX_RAW,
    MAX_TEXT,
    MAX_TS,
    MAX_WA_ID,
    MIN_TS,
    WA_ID_RE,
    AccountUpdate,
    Event,
    Ignored,
    InboundMessage,
    MalformedPayload,
    MarketingPreference,
    NumberQualityUpdate,
    Skipped,
    StatusError,
    StatusUpdate,
    TemplateQualityUpdate,
    TemplateStatusUpdate,
)

SIGNATURE_HEADER = "X-Hub-Signature-256"

# The small validators under the names the parser has always used.
_check_storable = webhook_events.check_storable
_id = webhook_events.id_at
_is_number = webhook_events.is_number
_list = webhook_events.list_at
_obj = webhook_events.object_at
_optional_timestamp = webhook_events.optional_timestamp
_raw_json = webhook_events.raw_json
_storable_text = webhook_events.storable_text
_text = webhook_events.text_at
_timestamp = webhook_events.timestamp_at

MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
# Meta's inbound types with a body object of the same name (plus the ones handled specially).
KNOWN_TYPES = (
    "text",
    *MEDIA_TYPES,
    "location",
    "contacts",
    "interactive",
    "button",
    "reaction",
    "order",
    "system",
    "edit",
    "revoke",
    "unsupported",
)
STATUSES = ("sent", "delivered", "read", "failed")
# Events of the fields without metadata take the entry's ``time`` as when Meta decided them.
TIMED_BY_ENTRY = (TemplateStatusUpdate, NumberQualityUpdate, AccountUpdate, TemplateQualityUpdate)

def sign(body: bytes, secret: str) -> str:
    """The ``X-Hub-Signature-256`` header value for ``body``."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(body: bytes, header: str | None, secret: str) -> bool:
    """True when ``header`` is the HMAC-SHA256 of the raw ``body`` under ``secret``."""
    if not header or not secret or not header.startswith("sha256="):
        return False
    return hmac.compare_digest(sign(body, secret).encode(), header.strip().encode())


def parse(raw: bytes) -> list[Event]:
    """All events of one webhook body, in payload order; raises MalformedPayload only for a
    broken envelope (see ``load``). Every message, status and change is read on its own: one
    that cannot be read becomes an ``unreadable`` InboundMessage or a ``Skipped`` event, and
    never costs the others."""
    return events_of(load(raw))


def load(raw: bytes) -> dict:
    """The body as JSON with its envelope checked: not JSON, not an object, another ``object``
    or no ``entry`` list raise MalformedPayload (the only refusals)."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise MalformedPayload(f"body is not JSON: {str(exc)[:200]}") from exc
    if not isinstance(data, dict):
        raise MalformedPayload("body is not a JSON object")
    if data.get("object") != "whatsapp_business_account":
        raise MalformedPayload("object is not whatsapp_business_account")
    _list(data, "entry", "$")
    return data


def count_items(data: dict) -> int:
    """Messages, statuses and changes in a loaded body, without reading them: how big a batch
    is (the webhook decides from it whether to apply it in the request)."""
    count = 0
    for entry in data["entry"]:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        for change in changes if isinstance(changes, list) else ():
            value = change.get("value") if isinstance(change, dict) else None
            items = 0
            if isinstance(value, dict):
                for key in ("messages", "statuses", "message_echoes"):
                    listed = value.get(key)
                    items += len(listed) if isinstance(listed, list) else 0
                history = value.get("history")
                for chunk in history if isinstance(history, list) else ():
                    threads = chunk.get("threads") if isinstance(chunk, dict) else None
                    for thread in threads if isinstance(threads, list) else ():
                        listed = thread.get("messages") if isinstance(thread, dict) else None
                        items += len(listed) if isinstance(listed, list) else 1
            count += items or 1  # a change without items is one event (a template review)
    return count


def events_of(data: dict) -> list[Event]:
    """The events of a body ``load`` accepted: each entry and change on its own."""
    events: list[Event] = []
    for i, entry in enumerate(data["entry"]):
        where = f"entry[{i}]"
        try:
            if not isinstance(entry, dict):
                raise MalformedPayload(f"{where} is not an object")
            _check_storable(entry.get("id"), f"{where}.id")
            waba_id = _id(entry.get("id"), f"{where}.id", required=False)
            changes = _list(entry, "changes", where)
        except MalformedPayload as exc:
            events.append(Skipped(where, exc.reason, _raw_json(entry)))
            continue
        event_at = _optional_timestamp(entry.get("time"))
        for j, change in enumerate(changes):
            at = f"{where}.changes[{j}]"
            try:
                parsed = _parse_change(change, waba_id, at)
            except MalformedPayload as exc:
                events.append(Skipped(at, exc.reason, _raw_json(change)))
                continue
            events.extend(
                replace(e, event_at=event_at) if isinstance(e, TIMED_BY_ENTRY) else e
                for e in parsed
            )
    return events


def _parse_change(change: Any, waba_id: str, where: str) -> list[Event]:
    if not isinstance(change, dict):
        raise MalformedPayload(f"{where} is not an object")
    name = change.get("field")
    value = change.get("value")
    if not isinstance(name, str) or not isinstance(value, dict):
        raise MalformedPayload(f"{where} needs a field name and a value object")
    if name == "message_template_status_update":
        _check_storable(value, f"{where}.value")
        return [_parse_template_status(value, waba_id, f"{where}.value")]
    if name in ("smb_message_echoes", "history"):
        return _parse_coexistence(name, value, waba_id, f"{where}.value")
    if name in health_webhooks.FIELDS:  # quality, account, template quality, opt-outs
        return health_webhooks.parse(name, value, waba_id, f"{where}.value")
    if name != "messages":
        return [Ignored(field=name[:64], waba_id=waba_id, why="field not handled")]
    metadata = value.get("metadata")
    if not isinstance(metadata, dict):
        raise MalformedPayload(f"{where}.value.metadata is missing")
    _check_storable(metadata.get("phone_number_id"), f"{where}.value.metadata.phone_number_id")
    pnid = _id(metadata.get("phone_number_id"), f"{where}.value.metadata.phone_number_id")
    names = _profile_names(value.get("contacts"))
    events: list[Event] = []
    for k, message in enumerate(_list(value, "messages", f"{where}.value", required=False)):
        at = f"{where}.value.messages[{k}]"
        events.append(message_or_unreadable(message, pnid, waba_id, names, at))
    for k, status in enumerate(_list(value, "statuses", f"{where}.value", required=False)):
        at = f"{where}.value.statuses[{k}]"
        try:
            _check_storable(status, at)
            parsed = _parse_status(status, pnid, at)
        except MalformedPayload as exc:
            parsed = Skipped(at, exc.reason, _raw_json(status))
        if parsed is not None:
            events.append(parsed)
    if "errors" in value:
        events.append(Ignored(field="messages", waba_id=waba_id, why="out-of-band errors"))
    return events


def _profile_names(contacts: Any) -> dict[str, str]:
    """The customers' profile names by wa_id and BSUID; a card that cannot be read is left out
    (the message still arrives, without the name)."""
    names: dict[str, str] = {}
    for contact in contacts if isinstance(contacts, list) else ():
        profile = contact.get("profile") if isinstance(contact, dict) else None
        name = profile.get("name") if isinstance(profile, dict) else None
        if not isinstance(name, str) or len(name) > MAX_NAME or not _storable_text(name):
            name = ""
        for key in (contact.get("wa_id"), contact.get("user_id")) if name else ():
            if isinstance(key, str):
                names[key] = name
    return names


def message_or_unreadable(
    message: Any, pnid: str, waba_id: str, names: dict[str, str], where: str, parse=None
) -> InboundMessage | Skipped:
    """One message of a batch, read on its own by ``parse`` (``_parse_message`` unless given):
    what it cannot read becomes an ``unreadable`` message (``unreadable_message``)."""
    try:
        _check_storable(message, where)
        return (parse or _parse_message)(message, pnid, waba_id, names, where)
    except MalformedPayload as exc:
        return unreadable_message(message, pnid, waba_id, names, where, exc.reason)


def unreadable_message(
    message: Any, pnid: str, waba_id: str, names: dict[str, str], where: str, reason: str
) -> InboundMessage | Skipped:
    """A message that could not be read, kept as such: its raw JSON and the reason in the
    payload, with whatever could be read of its id, sender and time. Its id is Meta's when
    readable, else a hash of its JSON, so a redelivery stores it once. Without a sender there is
    no conversation to keep it in: Skipped."""
    raw = _raw_json(message)
    obj = message if isinstance(message, dict) else {}
    wa_id = obj.get("from")
    if not isinstance(wa_id, str) or not WA_ID_RE.match(wa_id):
        wa_id = None
    bsuid = obj.get("user_id") or obj.get("from_user_id")
    if not isinstance(bsuid, str) or len(bsuid) > MAX_BSUID or not _storable_text(bsuid):
        bsuid = None
    reason = reason.encode("ascii", "backslashreplace").decode()
    if not wa_id and not bsuid:
        return Skipped(where, f"{reason} (and it names no sender)", raw)
    wamid = obj.get("id")
    if not (isinstance(wamid, str) and wamid.strip() and len(wamid) <= MAX_ID) or not (
        _storable_text(wamid)
    ):
        wamid = "unreadable." + hashlib.sha256(raw.encode()).hexdigest()[:40]
    payload: dict = {"reason": reason[:500], "raw": raw[:MAX_RAW]}
    if len(raw) > MAX_RAW:
        payload["raw_truncated"] = True
    kind = obj.get("type")
    if isinstance(kind, str) and _storable_text(kind):
        payload["original_type"] = kind[:64]
    return InboundMessage(
        phone_number_id=pnid,
        waba_id=waba_id,
        provider_message_id=wamid,
        wa_id=wa_id,
        bsuid=bsuid,
        profile_name=names.get(wa_id or "", names.get(bsuid or "", "")),
        sent_at=_optional_timestamp(obj.get("timestamp")),
        type="unreadable",
        payload=payload,
    )


def _parse_message(
    message: Any, pnid: str, waba_id: str, names: dict[str, str], where: str
) -> InboundMessage:
    if not isinstance(message, dict):
        raise MalformedPayload(f"{where} is not an object")
    wamid = _id(message.get("id"), f"{where}.id")
    wa_id = message.get("from")
    if wa_id is not None and (not isinstance(wa_id, str) or not WA_ID_RE.match(wa_id)):
        raise MalformedPayload(f"{where}.from is not a WhatsApp ID (digits)")
    bsuid = message.get("user_id") or message.get("from_user_id")
    if bsuid is not None:
        bsuid = _text(bsuid, f"{where}.user_id", MAX_BSUID) or None
    if not wa_id and not bsuid:
        raise MalformedPayload(f"{where} has neither from nor user_id")
    sent_at = _timestamp(message.get("timestamp"), f"{where}.timestamp")
    kind = message.get("type")
    if not isinstance(kind, str):
        raise MalformedPayload(f"{where}.type is missing")
    context = message.get("context") if isinstance(message.get("context"), dict) else {}
    reply_to = _id(context.get("id"), f"{where}.context.id", required=False)
    body, payload, media_id = _body_and_payload(message, kind, where)
    if context.get("forwarded") or context.get("frequently_forwarded"):
        payload["forwarded"] = True
    if isinstance(message.get("referral"), dict):
        payload["referral"] = message["referral"]
    return InboundMessage(
        phone_number_id=pnid,
        waba_id=waba_id,
        provider_message_id=wamid,
        wa_id=wa_id or None,
        bsuid=bsuid,
        profile_name=names.get(wa_id or "", names.get(bsuid or "", "")),
        sent_at=sent_at,
        type=kind if kind in KNOWN_TYPES else "unsupported",
        body=body,
        payload=payload,
        reply_to_provider_id=reply_to,
        media_id=media_id,
    )


def _parse_coexistence(name: str, value: dict, waba_id: str, where: str) -> list[Event]:
    """Messages of a WhatsApp Business app number that also uses the Cloud API (Meta's
    "coexistence"): ``smb_message_echoes`` carries ``message_echoes[]``, what the business sent
    from the app (``from`` its own number, ``to`` the customer); ``history`` carries
    ``history[].threads[]`` of past messages (a thread's ``id`` is the customer, a message from
    anyone else was the business's), and later ``messages[]`` with the media of a history
    message sent as ``media_placeholder``. Both become InboundMessage events with ``source``.
    Each message is read on its own (``message_or_unreadable``), as in ``messages``."""
    metadata = value.get("metadata")
    if not isinstance(metadata, dict):
        raise MalformedPayload(f"{where}.metadata is missing")
    _check_storable(metadata.get("phone_number_id"), f"{where}.metadata.phone_number_id")
    pnid = _id(metadata.get("phone_number_id"), f"{where}.metadata.phone_number_id")
    events: list[Event] = []
    if name == "smb_message_echoes":
        for k, echo in enumerate(_list(value, "message_echoes", where, required=False)):
            at = f"{where}.message_echoes[{k}]"
            to = echo.get("to") if isinstance(echo, dict) else None
            customer = to.lstrip("+") if isinstance(to, str) else ""
            events.append(_coexistence_message(echo, customer, pnid, waba_id, at, "echo"))
        return events
    for k, chunk in enumerate(_list(value, "history", where, required=False)):
        at = f"{where}.history[{k}]"
        if not isinstance(chunk, dict):
            events.append(Skipped(at, "not an object", _raw_json(chunk)))
            continue
        if "errors" in chunk:  # the business declined to share its chat history
            events.append(Ignored(field=name, waba_id=waba_id, why="history not shared"))
        for t, thread in enumerate(_list(chunk, "threads", at, required=False)):
            tat = f"{at}.threads[{t}]"
            customer = thread.get("id") if isinstance(thread, dict) else None
            if not isinstance(customer, str) or not WA_ID_RE.match(customer.lstrip("+")):
                events.append(Skipped(tat, "a thread without its customer", _raw_json(thread)))
                continue
            for m, message in enumerate(_list(thread, "messages", tat, required=False)):
                events.append(
                    _coexistence_message(
                        message, customer.lstrip("+"), pnid, waba_id, f"{tat}[{m}]", "history"
                    )
                )
    # The media of a history message sent earlier as a media_placeholder (same wamid).
    for m, message in enumerate(_list(value, "messages", where, required=False)):
        sender = message.get("from") if isinstance(message, dict) else None
        customer = sender.lstrip("+") if isinstance(sender, str) else ""
        events.append(
            _coexistence_message(message, customer, pnid, waba_id, f"{where}[{m}]", "history")
        )
    return events


def _coexistence_message(
    message: Any, customer: str, pnid: str, waba_id: str, where: str, source: str
) -> InboundMessage | Skipped:
    """An echo or history message, read with the customer as its sender; ``outbound`` when
    someone else (the business) sent it. What cannot be read is kept as unreadable."""
    if not isinstance(message, dict):
        return message_or_unreadable(message, pnid, waba_id, {}, where)
    sender = message.get("from")
    outbound = source == "echo" or (
        isinstance(sender, str) and sender.lstrip("+") != customer
    )

    def parse(msg, pnid, waba_id, names, where):
        parsed = _parse_message(msg, pnid, waba_id, names, where)
        context = message.get("history_context")
        if isinstance(context, dict) and isinstance(context.get("status"), str):
            parsed.payload["history_status"] = context["status"][:16]
        return replace(parsed, source=source, outbound=outbound)

    return message_or_unreadable({**message, "from": customer}, pnid, waba_id, {}, where, parse)


def _body_and_payload(message: dict, kind: str, where: str) -> tuple[str, dict, str]:
    """The readable text of a message and its type-specific details."""
    obj = message.get(kind)
    at = f"{where}.{kind}"
    if kind == "text":
        obj = _obj(obj, at)
        return _text(obj.get("body"), f"{at}.body", MAX_TEXT, required=True), {}, ""
    if kind in MEDIA_TYPES:
        obj = _obj(obj, at)
        media_id = obj.get("id")
        # Digits only (docs/security.md): a URL or path makes the message unreadable, so it
        # never reaches the download.
        if not is_media_id(media_id):
            raise MalformedPayload(f"{at}.id is not a media id (digits)")
        payload = {"media_id": media_id}
        for key in ("mime_type", "sha256", "filename", "caption"):
            if key in obj:
                payload[key] = _text(obj.get(key), f"{at}.{key}", MAX_TEXT)
        if "filename" in payload:
            payload["filename"] = strip_bidi(payload["filename"])  # "invoice\u202efdp.exe"
        for key in ("voice", "animated"):
            if isinstance(obj.get(key), bool):
                payload[key] = obj[key]
        return payload.get("caption", ""), payload, media_id
    if kind == "location":
        obj = _obj(obj, at)
        lat, lng = obj.get("latitude"), obj.get("longitude")
        if not _is_number(lat) or not _is_number(lng) or abs(lat) > 90 or abs(lng) > 180:
            raise MalformedPayload(f"{at} needs numeric latitude and longitude")
        payload = {"latitude": lat, "longitude": lng}
        for key in ("name", "address", "url"):
            if key in obj:
                payload[key] = _text(obj.get(key), f"{at}.{key}", MAX_TEXT)
        body = " — ".join(p for p in (payload.get("name"), payload.get("address")) if p)
        return body, payload, ""
    if kind == "contacts":
        cards = obj if isinstance(obj, list) else None
        if cards is None or not all(isinstance(c, dict) for c in cards):
            raise MalformedPayload(f"{at} is not a list of contact cards")
        names = [
            str(c["name"].get("formatted_name", ""))
            for c in cards
            if isinstance(c.get("name"), dict)
        ]
        return ", ".join(n for n in names if n), {"contacts": cards}, ""
    if kind == "interactive":
        obj = _obj(obj, at)
        sub = obj.get("type")
        if sub not in ("button_reply", "list_reply", "nfm_reply"):
            return "", {"interactive": obj}, ""
        reply = _obj(obj.get(sub), f"{at}.{sub}")
        payload = {"interactive_type": sub}
        for key in ("id", "title", "description", "name", "body", "response_json"):
            if key in reply:
                payload[key] = _text(reply.get(key), f"{at}.{sub}.{key}", MAX_TEXT)
        body = payload.get("title") or payload.get("body") or ""
        return body, payload, ""
    if kind == "button":
        obj = _obj(obj, at)
        text = _text(obj.get("text"), f"{at}.text", MAX_TEXT)
        return text, {"payload": _text(obj.get("payload"), f"{at}.payload", MAX_TEXT)}, ""
    if kind == "reaction":
        obj = _obj(obj, at)
        target = _id(obj.get("message_id"), f"{at}.message_id")
        emoji = _text(obj.get("emoji"), f"{at}.emoji", 64)
        # An empty emoji is Meta's way of saying the reaction was removed.
        return emoji, {"message_id": target, "emoji": emoji, "removed": not emoji}, ""
    if kind == "order":
        obj = _obj(obj, at)
        return _text(obj.get("text"), f"{at}.text", MAX_TEXT), {"order": obj}, ""
    if kind == "system":
        obj = _obj(obj, at)
        payload = {"system": obj}
        for key in ("wa_id", "new_wa_id"):  # the new number: user_changed_number / older name
            new = obj.get(key)
            if new is not None:
                if not isinstance(new, str) or not WA_ID_RE.match(new.lstrip("+")):
                    raise MalformedPayload(f"{at}.{key} is not a WhatsApp ID (digits)")
                payload["new_wa_id"] = new.lstrip("+")
        if isinstance(message.get("identity"), dict):  # customer_identity_changed
            payload["identity"] = message["identity"]
        return _text(obj.get("body"), f"{at}.body", MAX_TEXT), payload, ""
    if kind in ("edit", "revoke"):
        # A change to an earlier message (Meta: edits within 15 minutes of sending, deletions
        # within two days): the original's wamid and, for an edit, the new message object.
        obj = _obj(obj, at)
        payload = {"original_message_id": _id(obj.get("original_message_id"), f"{at}.original")}
        if kind == "revoke":
            return "", payload, ""
        new = _obj(obj.get("message"), f"{at}.message")
        new_kind = new.get("type")
        if not isinstance(new_kind, str) or not isinstance(new.get(new_kind), dict):
            # Meta's examples name the type; a bare text or media object is read as such.
            new_kind = next((k for k in ("text", *MEDIA_TYPES) if isinstance(new.get(k), dict)), "")
        if new_kind not in ("text", *MEDIA_TYPES):
            raise MalformedPayload(f"{at}.message has no text or caption")
        payload["new_type"] = new_kind
        if new_kind == "text":
            return _text(new["text"].get("body"), f"{at}.message.text.body", MAX_TEXT), payload, ""
        # A media edit changes only the caption; the file stays the original's.
        caption = _text(new[new_kind].get("caption"), f"{at}.message.{new_kind}.caption", MAX_TEXT)
        payload["caption"] = caption
        return caption, payload, ""
    # unsupported / unknown / request_welcome / anything new: keep what Meta said about it.
    payload: dict = {"original_type": kind}
    if isinstance(message.get("errors"), list):
        payload["errors"] = message["errors"]
    if isinstance(message.get("unsupported"), dict):
        payload["unsupported"] = message["unsupported"]
    return "", payload, ""


def _parse_status(status: Any, pnid: str, where: str) -> StatusUpdate | None:
    if not isinstance(status, dict):
        raise MalformedPayload(f"{where} is not an object")
    wamid = _id(status.get("id"), f"{where}.id")
    state = status.get("status")
    if not isinstance(state, str):
        raise MalformedPayload(f"{where}.status is missing")
    timestamp = _timestamp(status.get("timestamp"), f"{where}.timestamp")
    if state not in STATUSES:
        return None  # "played", "deleted", future states: nothing to show for them
    errors = []
    raw_errors = status.get("errors", [])
    if not isinstance(raw_errors, list):
        raise MalformedPayload(f"{where}.errors is not a list")
    for k, error in enumerate(raw_errors):
        if not isinstance(error, dict):
            raise MalformedPayload(f"{where}.errors[{k}] is not an object")
        code = error.get("code")
        data = error.get("error_data") if isinstance(error.get("error_data"), dict) else {}
        errors.append(
            StatusError(
                code=code if isinstance(code, int) and abs(code) < 2**31 else None,
                title=_text(error.get("title") or error.get("message"), f"{where}.title", 500),
                details=_text(data.get("details"), f"{where}.details", 500),
            )
        )
    return StatusUpdate(
        phone_number_id=pnid,
        provider_message_id=wamid,
        status=state,
        timestamp=timestamp,
        recipient_id=_text(status.get("recipient_id"), f"{where}.recipient_id", MAX_WA_ID),
        callback_data=_text(status.get("biz_opaque_callback_data"), f"{where}.callback", 512),
        errors=tuple(errors),
        pricing=_pricing(status.get("pricing")),
    )


def _pricing(value: Any) -> dict | None:
    """Meta's pricing block, its known keys only (billable, pricing_model, category, type);
    None when absent or not an object, so a strange block never costs the status."""
    if not isinstance(value, dict):
        return None
    pricing: dict = {}
    if isinstance(value.get("billable"), bool):
        pricing["billable"] = value["billable"]
    for key in ("pricing_model", "category", "type"):
        if isinstance(value.get(key), str) and _storable_text(value[key]):
            pricing[key] = value[key][:40]
    return pricing or None


def _parse_template_status(value: dict, waba_id: str, where: str) -> TemplateStatusUpdate:
    event = value.get("event")
    if not isinstance(event, str):
        raise MalformedPayload(f"{where}.event is missing")
    template_id = value.get("message_template_id")
    # A JSON number in webhooks, a string everywhere else: store it as text.
    if isinstance(template_id, bool) or not isinstance(template_id, int | str):
        raise MalformedPayload(f"{where}.message_template_id is missing")
    info = value.get("rejection_info") if isinstance(value.get("rejection_info"), dict) else {}
    reason = value.get("reason")
    reason = "" if reason in (None, "NONE") else _text(reason, f"{where}.reason", 100)
    detail = _text(info.get("reason"), f"{where}.rejection_info.reason", 150)
    return TemplateStatusUpdate(
        waba_id=waba_id,
        template_id=_id(str(template_id), f"{where}.message_template_id"),
        name=_text(value.get("message_template_name"), f"{where}.name", 512),
        language=_text(value.get("message_template_language"), f"{where}.language", 16),
        event=event[:32],
        reason=": ".join(p for p in (reason, detail) if p),
    )
