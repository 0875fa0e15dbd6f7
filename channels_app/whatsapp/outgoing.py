"""The Cloud API bodies of what an agent sends besides text and templates (reference §2.2).

Each builder checks WhatsApp's own limits first and raises ``Refused`` with a sentence for the
agent (translated), so a message WhatsApp would reject is never queued. ``body_for`` turns what
the desk stored in ``Message.payload`` back into the object named after the message type, at
send time (conversations' outbound dispatch). No desk rules here: only the wire format.
"""

from __future__ import annotations

import math

from django.utils.translation import gettext_lazy as _

# Reply buttons: 1 to 3, id ≤ 256, title ≤ 20 and unique; body ≤ 1024; header/footer ≤ 60.
MAX_BUTTONS = 3
MAX_BUTTON_TITLE = 20
MAX_BUTTON_ID = 256
MAX_INTERACTIVE_BODY = 1024
MAX_HEADER = 60
MAX_FOOTER = 60
# Lists: button label ≤ 20; ≤ 10 rows in total; row id ≤ 200, title ≤ 24, description ≤ 72.
MAX_LIST_ROWS = 10
MAX_LIST_BUTTON = 20
MAX_ROW_ID = 200
MAX_ROW_TITLE = 24
MAX_ROW_DESCRIPTION = 72
MAX_LOCATION_TEXT = 1000
MAX_CONTACT_FIELD = 256
MAX_EMOJI = 16

TYPES = ("reaction", "interactive", "location", "contacts")


class Refused(ValueError):
    """What the agent asked for breaks one of WhatsApp's limits; ``message`` says which."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = str(message)


def _text(value, limit: int, message, *, required: bool = True) -> str:
    text = " ".join(str(value or "").split()) if limit <= MAX_HEADER else str(value or "").strip()
    if required and not text:
        raise Refused(message)
    if len(text) > limit:
        raise Refused(message)
    return text


def buttons(*, body: str, options: list[tuple[str, str]], header: str = "", footer: str = ""):
    """An interactive reply-button message: ``options`` are (id, title) pairs, 1 to 3."""
    body = _text(body, MAX_INTERACTIVE_BODY, _("Write the question (at most 1024 characters)."))
    options = [(str(i).strip(), " ".join(str(t).split())) for i, t in options if str(t).strip()]
    if not 1 <= len(options) <= MAX_BUTTONS:
        raise Refused(_("A button message has one to three buttons."))
    titles = [t for _i, t in options]
    if len(set(titles)) != len(titles):
        raise Refused(_("Each button needs a different title."))
    for button_id, title in options:
        if len(title) > MAX_BUTTON_TITLE:
            raise Refused(_("A button's title can be at most 20 characters long."))
        if not button_id or len(button_id) > MAX_BUTTON_ID:
            raise Refused(_("Each button needs an id of at most 256 characters."))
    if len({i for i, _t in options}) != len(options):
        raise Refused(_("Each button needs a different id."))
    interactive: dict = {
        "type": "button",
        "body": {"text": body},
        "action": {
            "buttons": [{"type": "reply", "reply": {"id": i, "title": t}} for i, t in options]
        },
    }
    _header_footer(interactive, header, footer)
    return interactive


def list_message(
    *, body: str, button: str, rows: list[tuple[str, str, str]], header: str = "", footer: str = ""
):
    """An interactive list with one section: ``rows`` are (id, title, description), 1 to 10."""
    body = _text(body, MAX_INTERACTIVE_BODY, _("Write the question (at most 1024 characters)."))
    button = _text(
        button, MAX_LIST_BUTTON, _("The list's button needs a label of at most 20 characters.")
    )
    rows = [(str(i).strip(), " ".join(str(t).split()), str(d or "").strip()) for i, t, d in rows]
    rows = [r for r in rows if r[1]]
    if not 1 <= len(rows) <= MAX_LIST_ROWS:
        raise Refused(_("A list has one to ten rows."))
    out = []
    for row_id, title, description in rows:
        if len(title) > MAX_ROW_TITLE:
            raise Refused(_("A row's title can be at most 24 characters long."))
        if len(description) > MAX_ROW_DESCRIPTION:
            raise Refused(_("A row's description can be at most 72 characters long."))
        if not row_id or len(row_id) > MAX_ROW_ID:
            raise Refused(_("Each row needs an id of at most 200 characters."))
        out.append(
            {"id": row_id, "title": title, **({"description": description} if description else {})}
        )
    if len({r["id"] for r in out}) != len(out):
        raise Refused(_("Each row needs a different id."))
    interactive: dict = {
        "type": "list",
        "body": {"text": body},
        "action": {"button": button, "sections": [{"title": button, "rows": out}]},
    }
    _header_footer(interactive, header, footer)
    return interactive


def _header_footer(interactive: dict, header: str, footer: str) -> None:
    header = " ".join(str(header or "").split())
    footer = " ".join(str(footer or "").split())
    if len(header) > MAX_HEADER or len(footer) > MAX_FOOTER:
        raise Refused(_("The header and the footer can be at most 60 characters long."))
    if header:
        interactive["header"] = {"type": "text", "text": header}
    if footer:
        interactive["footer"] = {"text": footer}


def location(*, latitude, longitude, name: str = "", address: str = "") -> dict:
    try:
        lat, lng = float(latitude), float(longitude)
    except (TypeError, ValueError):
        raise Refused(_("Enter the latitude and longitude as numbers.")) from None
    if not (math.isfinite(lat) and math.isfinite(lng)) or abs(lat) > 90 or abs(lng) > 180:
        raise Refused(_("The latitude is between -90 and 90, the longitude between -180 and 180."))
    body: dict = {"latitude": lat, "longitude": lng}
    for key, value in (("name", name), ("address", address)):
        value = " ".join(str(value or "").split())
        if len(value) > MAX_LOCATION_TEXT:
            raise Refused(_("The place's name and address can be at most 1000 characters long."))
        if value:
            body[key] = value
    return body


def contact_card(*, name: str, phone: str = "", email: str = "", organization: str = "") -> list:
    """One shared contact card (Meta's ``contacts`` is a list of cards)."""
    name = " ".join(str(name or "").split())
    phone = "".join(str(phone or "").split())
    email = str(email or "").strip()
    if not name:
        raise Refused(_("A contact card needs a name."))
    if not phone and not email:
        raise Refused(_("A contact card needs a phone number or an email address."))
    if any(len(v) > MAX_CONTACT_FIELD for v in (name, phone, email, organization)):
        raise Refused(_("Each field of a contact card can be at most 256 characters long."))
    if phone and not all(c.isdigit() or c in "+-()." for c in phone):
        raise Refused(_("Enter the phone number with digits only (a leading + is fine)."))
    first, _sep, last = name.partition(" ")
    card: dict = {"name": {"formatted_name": name, "first_name": first}}
    if last:
        card["name"]["last_name"] = last
    if phone:
        card["phones"] = [{"phone": phone, "type": "WORK"}]
    if email:
        card["emails"] = [{"email": email, "type": "WORK"}]
    if organization.strip():
        card["org"] = {"company": organization.strip()}
    return [card]


def reaction(*, message_id: str, emoji: str) -> dict:
    """A reaction to ``message_id``; an empty emoji takes the reaction back."""
    emoji = str(emoji or "").strip()
    if len(emoji) > MAX_EMOJI or any(c.isalnum() for c in emoji):
        raise Refused(_("Pick one emoji."))
    if not message_id:
        raise Refused(_("This message cannot be reacted to: WhatsApp has not accepted it yet."))
    return {"message_id": message_id, "emoji": emoji}


def body_for(kind: str, payload: dict) -> dict | list:
    """The object named after ``kind`` for a stored outbound message of one of ``TYPES``."""
    if kind == "reaction":
        return {"message_id": payload.get("message_id", ""), "emoji": payload.get("emoji", "")}
    if kind == "interactive":
        return payload["interactive"]
    if kind == "location":
        return {k: payload[k] for k in ("latitude", "longitude", "name", "address") if k in payload}
    if kind == "contacts":
        return payload["contacts"]
    raise ValueError(f"no body builder for {kind!r}")


def describe(kind: str, body) -> str:
    """The plain text the thread and the inbox preview show for such a message."""
    if kind == "interactive":
        return str((body.get("body") or {}).get("text") or "")
    if kind == "location":
        return " — ".join(p for p in (body.get("name"), body.get("address")) if p)
    if kind == "contacts":
        return ", ".join(str((c.get("name") or {}).get("formatted_name") or "") for c in body)
    if kind == "reaction":
        return str(body.get("emoji") or "")
    return ""
