"""Presentation helpers for the agent pages (kept out of the models)."""

from __future__ import annotations

import html
from datetime import timedelta
from functools import lru_cache

from django import template
from django.conf import settings
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.template.defaultfilters import truncatechars
from django.urls import reverse
from django.utils import dateformat, formats, timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import conditional_escape, escape, format_html
from django.utils.safestring import mark_safe
from django.utils.text import normalize_newlines
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from channels_app.whatsapp.failures import describe_failure
from channels_app.whatsapp.media_policy import strip_bidi
from conversations import outbound
from conversations.models import Conversation, Event, Message

register = template.Library()

# How long ago_tag says "… ago" before it gives the date and time instead.
RELATIVE_TIME_LIMIT = timedelta(days=1)


def _status(value) -> str:
    try:
        return str(Conversation.Status(value).label)
    except ValueError:
        return str(value)


def _name(ref) -> str:
    if isinstance(ref, dict):
        return str(ref.get("name") or ref.get("id") or "?")
    return _("nobody") if ref is None else str(ref)


@register.simple_tag
def describe_event(event: Event) -> str:
    """One readable line for a history row, from its kind and data (no queries)."""
    data = event.data or {}
    kind = event.kind
    if kind == Event.Kind.OPENED:
        return _("Conversation opened")
    if kind == Event.Kind.STATUS_CHANGED:
        values = {"from": _status(data.get("from")), "to": _status(data.get("to"))}
        if data.get("reason") == "customer_replied":
            return _("Customer replied: %(from)s → %(to)s") % values
        if data.get("reopened"):
            return _("Reopened: %(from)s → %(to)s") % values
        return _("Moved %(from)s → %(to)s") % values
    if kind == Event.Kind.AUTO_RESOLVED:
        return _("Auto-resolved from %(from)s") % {"from": _status(data.get("from"))}
    if kind == Event.Kind.ASSIGNED:
        if data.get("auto"):
            return _("Assigned to %(name)s on their reply") % {"name": _name(data.get("to"))}
        return _("Assigned to %(name)s") % {"name": _name(data.get("to"))}
    if kind == Event.Kind.UNASSIGNED:
        return _("Unassigned from %(name)s") % {"name": _name(data.get("from"))}
    if kind == Event.Kind.TAG_ADDED:
        return _("Tag “%(name)s” added") % {"name": data.get("name", "?")}
    if kind == Event.Kind.TAG_REMOVED:
        return _("Tag “%(name)s” removed") % {"name": data.get("name", "?")}
    if kind == Event.Kind.TOPIC_ADDED:
        return _("Topic “%(name)s” added") % {"name": data.get("name", "?")}
    if kind == Event.Kind.TOPIC_REMOVED:
        return _("Topic “%(name)s” removed") % {"name": data.get("name", "?")}
    if kind == Event.Kind.NOTE_ADDED:
        return _("Note added")
    if kind == Event.Kind.REPLY_FAILED:
        reason = describe_failure(
            data.get("code"), str(data.get("reason") or ""), transient=bool(data.get("transient"))
        )
        return _("Reply failed: %(reason)s") % {"reason": reason}
    if kind == Event.Kind.REPLY_RETRIED:
        return _("Failed reply sent again")
    if kind == Event.Kind.NUMBER_CHANGED:
        return _("The customer changed their number from +%(from)s to +%(to)s") % {
            "from": data.get("from", "?"),
            "to": data.get("to", "?"),
        }
    if kind == Event.Kind.IDENTITY_CHANGED:
        return _("WhatsApp says the customer's identity changed (new phone or reinstall)")
    return event.get_kind_display()


@register.simple_tag
def actor_name(event: Event) -> str:
    if event.actor_id is None:
        return _("System")
    user = event.actor
    return user.get_full_name() or user.get_username()


@register.filter
def user_label(user) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


def _local(value):
    return timezone.localtime(value) if timezone.is_aware(value) else value


@lru_cache(maxsize=64)
def _format_pieces(format_string: str) -> tuple[tuple[bool, str], ...]:
    """A date format split once into ``(is_specifier, text)`` pieces.

    dateformat.format() splits the format with two regular expressions on every call, which was
    most of its cost (~25 µs a row on a 70-row page); the split depends on the string alone.
    """
    pieces = []
    for i, piece in enumerate(dateformat.re_formatchars.split(format_string)):
        if i % 2:
            pieces.append((True, piece))
        elif piece:
            pieces.append((False, dateformat.re_escaped.sub(r"\1", piece)))
    return tuple(pieces)


def _date_text(local, format_string: str) -> str:
    """dateformat.format(local, format_string), from the pre-split pieces."""
    df = dateformat.DateFormat(local)
    pieces = _format_pieces(format_string)
    return "".join(str(getattr(df, text)()) if spec else text for spec, text in pieces)


def _formatted(local, fmt: str) -> str:
    return escape(_date_text(local, str(formats.get_format(fmt))))


def _esc(value) -> str:
    """Django's escape() without its lazy-string wrapper: the same text at a fraction of the
    cost, which counts at a few calls per row of a long list."""
    return html.escape(str(value))


def _lines(text: str) -> str:
    """``{{ text|linebreaksbr|bdi }}``: escaped, each line break a ``<br>``, isolated in a
    ``<bdi>`` so that bidi controls in it cannot reorder the text around it ("" stays "")."""
    if not text:
        return ""
    return "<bdi>" + _esc(normalize_newlines(text)).replace("\n", "<br>") + "</bdi>"


@register.filter
def bdi(value) -> str:
    """``<bdi>value</bdi>``, escaped: a customer's text (name, message, file name) isolated from
    the text around it, whatever bidi controls it holds (docs/security.md, item 9)."""
    text = conditional_escape(value)
    return mark_safe(f"<bdi>{text}</bdi>") if text else ""  # noqa: S308 - escaped above


@register.filter
def isolate(value) -> str:
    """The plain-text ``<bdi>``: the value between FIRST STRONG ISOLATE and POP DIRECTIONAL
    ISOLATE, for places that hold no markup (``<title>``, attributes, ``<option>``)."""
    return f"\u2068{value}\u2069"


class LocalTimes:
    """``<time>`` tags for many datetimes: the time zone and the localized format are read once.

    Same output as ``time_tag``; the time zone and language active when it is built apply.
    """

    def __init__(self, fmt: str = "SHORT_DATETIME_FORMAT"):
        self.tz = timezone.get_current_timezone()
        self.format = str(formats.get_format(fmt))

    def tag(self, value) -> str:
        local = value.astimezone(self.tz) if timezone.is_aware(value) else value
        text = _esc(_date_text(local, self.format))
        # isoformat() is digits and "-:+T." only; the localized text is escaped.
        return f'<time datetime="{local.isoformat()}">{text}</time>'


@register.filter
def time_tag(value, fmt: str = "SHORT_DATETIME_FORMAT") -> str:
    """``<time datetime="ISO">localized</time>`` in the current time zone: one conversion per
    row instead of the two that a pair of ``date`` filters costs on long lists."""
    if value is None:
        return ""
    local = _local(value)
    # isoformat() is digits and "-:+T." only; the localized text is escaped.
    return mark_safe(f'<time datetime="{local.isoformat()}">{_formatted(local, fmt)}</time>')  # noqa: S308


class _Labels(dict):
    """The display labels of a field's choices, each translated on first use (once a render,
    where ``get_FOO_display()`` rebuilds its choices dict and translates on every row)."""

    def __init__(self, choices):
        super().__init__()
        self.choices = dict(choices)

    def __missing__(self, value):
        label = self[value] = _esc(self.choices.get(value, value))
        return label


def _text(value) -> str:
    """``{{ value }}`` as a template renders it (localized, escaped)."""
    return conditional_escape(str(formats.localize(value)))


def _user_name(user) -> str:
    return "" if user is None else _esc(user.get_full_name() or user.get_username())


def _attachment(m, payload: dict, attachment_base: str, inline_types) -> str:
    if payload.get("file"):
        # The conversations:attachment URL, from the page's own prefix (no reverse() per row).
        url = _esc(f"{attachment_base}{m.pk}/attachment/")
        try:
            inline = (payload.get("file_type") or payload.get("mime_type")) in inline_types
        except TypeError:  # not a string: the template's ``in`` said False
            inline = False
        if inline:
            alt = _esc(_("Picture from the customer"))
            return (
                f'<a class="attachment" href="{url}"><img src="{url}" alt="{alt}"'
                ' loading="lazy"></a>'
            )
        # No bidi controls in a file name ("invoice\u202efdp.exe"), and isolated all the same.
        name = _text(strip_bidi(str(payload.get("filename") or "")) or _("Download attachment"))
        name = f"<bdi>{name}</bdi>"
        return f'<a class="attachment" href="{url}" download>{name}</a>'
    if payload.get("media_id") and m.direction == Message.Direction.INBOUND:
        error = payload.get("download_error")
        if error:
            # The lead outside the f-string, where makemessages finds it; the reason translated
            # when it is one of conversations.media's fixed sentences.
            lead = _("The attachment could not be downloaded:")
            text = f"{_esc(lead)} {_text(_(str(error)))}"
        else:
            text = _esc(_("Attachment is being downloaded…"))
        return f'<span class="muted">{text}</span>'
    return ""


def _via_mark(m) -> str:
    """Where a message came from besides the desk and the customer (coexistence)."""
    if m.via == Message.Via.BUSINESS_APP:
        label = _("sent from the WhatsApp Business app")
    elif m.via == Message.Via.HISTORY:
        label = _("imported from the WhatsApp Business app history")
    else:
        return ""
    return f' · <span class="via via-{_esc(m.via)}">{_esc(label)}</span>'


def _earlier_versions(payload: dict, times: LocalTimes) -> str:
    """The "edited" mark; opening it lists the earlier versions (the original first)."""
    versions = payload.get("versions")
    versions = [v for v in versions if isinstance(v, dict)] if isinstance(versions, list) else []
    items = []
    for version in versions[:-1]:
        at = parse_datetime(str(version.get("at") or ""))
        when = times.tag(at) if at is not None else ""
        items.append(f"<li>{when} {_lines(str(version.get('body') or ''))}</li>")
    label = _esc(_("edited"))
    if not items:
        return f'<span class="edited">{label}</span>'
    title = _esc(_("Earlier versions"))
    return (
        f'<details class="edited"><summary title="{title}">{label}</summary>'
        f'<ol class="versions">{"".join(items)}</ol></details>'
    )


def _fallback_line(m, payload: dict) -> str:
    """What a message without text shows instead, so that no row is blank (issue 21)."""
    if m.type == Message.Type.UNREADABLE:
        text = _("A message the desk could not read — open WhatsApp to see it.")
    elif m.type == Message.Type.UNSUPPORTED:
        text = _("A kind of message the desk cannot show — open WhatsApp to see it.")
    elif m.type == Message.Type.REACTION and payload.get("removed"):
        text = _("Reaction removed")
    elif m.type == Message.Type.LOCATION and "latitude" in payload:
        text = f"{payload.get('latitude')}, {payload.get('longitude')}"
    elif m.type == Message.Type.ORDER and isinstance(payload.get("order"), dict):
        items = payload["order"].get("product_items")
        count = len(items) if isinstance(items, list) else 0
        text = ngettext("%(count)d item ordered", "%(count)d items ordered", count) % {
            "count": count
        }
    else:
        return ""
    return f'<span class="muted">{_esc(text)}</span>'


def _system_line(payload: dict) -> str:
    """Our sentence for a system message the desk acted on: a number or identity change."""
    system = payload.get("system") if isinstance(payload.get("system"), dict) else {}
    if payload.get("new_wa_id"):
        return _("The customer changed their WhatsApp number to +%(number)s.") % {
            "number": payload["new_wa_id"]
        }
    if "identity" in payload or system.get("type") == "customer_identity_changed":
        return _("The customer's WhatsApp identity changed: make sure it is the same person.")
    return ""


def _changed_body(m, payload: dict, attachment: str, show_deleted: bool, times: LocalTimes):
    """The body and attachment of an edited or deleted message, as this reader may see them.

    A deletion replaces the text for everyone; a reader with access.Cap.SEE_DELETED also sees
    the kept text, versions and attachment (struck through) until the erase job removes them.
    """
    if m.type == Message.Type.SYSTEM and _system_line(payload):
        # Meta's own sentence (English) under ours, in the reader's language.
        body = (
            f'<div class="msg-body">{_esc(_system_line(payload))}'
            f'<br><span class="muted">{_lines(m.body)}</span></div>'
        )
    else:
        body = f'<div class="msg-body">{_lines(m.body) or _fallback_line(m, payload)}</div>'
    versions = _earlier_versions(payload, times) if m.edited_at is not None else ""
    if m.revoked_at is None:
        return body + versions, attachment
    if m.direction == Message.Direction.INBOUND:
        label = _("Deleted by the customer")
    else:
        label = _("Deleted in the WhatsApp Business app")
    deleted = f'<p class="deleted">{_esc(label)}</p>'
    if not show_deleted or m.erased_at is not None:
        return deleted, ""
    until = times.tag(m.revoked_at + settings.DELETED_MESSAGE_RETENTION)
    kept = _esc(_("The text is kept for Supervisors until"))
    return (
        f'{deleted}<div class="deleted-kept"><del>{body}</del>{versions}'
        f'<p class="muted">{kept} {until}</p></div>',
        attachment,
    )


@register.simple_tag
def thread_items(
    items,
    attachment_base: str,
    inline_types,
    show_deleted: bool = False,
    can_reply: bool = False,
    csrf_token: str = "",
) -> str:
    """The thread's rows (``<li>`` per message and note), built in one Python pass.

    A failed reply says why in the reader's language (failures.describe_failure) and, for a
    user who can reply and a failure that may be retried, carries a Retry button.

    The same markup the per-row template produced. That template ran ~20 nodes and a
    ``get_*_display()`` per row, about half of the conversation page's render time for a
    50-row page; here the time zone, the date format and the labels are read once a page.
    Every text from the database is escaped.
    """
    times = LocalTimes()
    deliveries = _Labels(Message.Delivery.choices)
    types = _Labels(Message.Type.choices)
    note_label = template_label = None
    rows = []
    for item in items:
        at = times.tag(item.at)
        if item.kind != "message":
            n = item.obj
            if note_label is None:
                note_label = _esc(_("Internal note"))
            rows.append(
                f'\n<li class="note" id="note-{n.pk}">\n  <div class="bubble">\n'
                f'    <span class="msg-kind">{note_label}</span>\n'
                f'    <div class="msg-body">{_lines(n.body)}</div>\n  </div>\n'
                f'  <div class="msg-meta">{at} · {_user_name(n.author)}</div>\n</li>'
            )
            continue
        m = item.obj
        kind = ""
        if m.type == Message.Type.TEMPLATE:
            if template_label is None:
                template_label = _esc(_("Template"))
            name = f" · {_esc(m.template.name)}" if m.template else ""
            kind = f'<span class="msg-kind">{template_label}{name}</span>'
        elif m.type != Message.Type.TEXT:
            kind = f'<span class="msg-kind">{types[m.type]}</span>'
        payload = m.payload if isinstance(m.payload, dict) else {}
        attachment = _attachment(m, payload, attachment_base, inline_types) if payload else ""
        meta = at
        body_html, attachment = _changed_body(m, payload, attachment, show_deleted, times)
        if m.direction == Message.Direction.OUTBOUND:
            if m.author:
                meta += f" · {_user_name(m.author)}"
            delivery = _esc(m.delivery)
            meta += f' · <span class="delivery delivery-{delivery}">{deliveries[m.delivery]}</span>'
            if m.delivery == Message.Delivery.FAILED:
                meta += _failure(m, attachment_base, csrf_token if can_reply else "")
        rows.append(
            f'\n<li class="msg dir-{_esc(m.direction)}" id="message-{m.pk}">\n'
            f'  <div class="bubble">\n    {kind}\n    {attachment}\n'
            f'    {body_html}\n  </div>\n'
            f'  <div class="msg-meta">{meta}{_via_mark(m)}</div>\n</li>'
        )
    return mark_safe("".join(rows))  # noqa: S308 - every value above is escaped or a number


@register.filter
def failure_text(message) -> str:
    """Why a failed message failed, in the active language (from Meta's stored code)."""
    transient = bool(outbound.failure_of(message).get("transient"))
    return describe_failure(message.failure_code, message.failure_reason, transient=transient)


def _failure(m, attachment_base: str, csrf_token: str) -> str:
    """A failed reply's reason and, with a CSRF token (the user can reply) and a failure that
    may be retried, the Retry form (conversations:retry, from the page's own prefix)."""
    html_ = f' <span class="failure">{_esc(failure_text(m))}</span>'
    if csrf_token and outbound.can_retry(m):
        url = _esc(f"{attachment_base}{m.pk}/retry/")
        html_ += (
            f'<form method="post" action="{url}" class="retry">'
            f'<input type="hidden" name="csrfmiddlewaretoken" value="{_esc(csrf_token)}">'
            f'<button type="submit">{_esc(_("Retry"))}</button></form>'
        )
    return html_


@register.simple_tag
def event_items(events) -> str:
    """The history panel's rows, one ``<li>`` per event, in one Python pass (as thread_items)."""
    times = LocalTimes()
    # A history repeats itself (New → Pending, Pending → New, ...): each distinct line is
    # described, translated and escaped once.
    lines = {}
    rows = []
    for e in events:
        key = (e.kind, repr(e.data))
        line = lines.get(key)
        if line is None:
            line = lines[key] = _esc(describe_event(e))
        rows.append(
            f'<li><span>{line}</span> <span class="muted">· {_esc(actor_name(e))}'
            f" · {times.tag(e.created_at)}</span></li>"
        )
    return mark_safe("\n        ".join(rows))  # noqa: S308 - every text above is escaped


@register.simple_tag
def earlier_items(conversations) -> str:
    """The contact's earlier conversations, one ``<li>`` each: link, status, day opened (the
    short date), channel and the start of the last message. One Python pass, as thread_items."""
    short_date = str(formats.get_format("SHORT_DATE_FORMAT"))
    statuses = _Labels(Conversation.Status.choices)
    rows = []
    for c in conversations:
        url = _esc(reverse("conversations:detail", args=[c.pk]))
        opened = _esc(_date_text(_local(c.opened_at), short_date))
        preview = bdi(truncatechars(c.last_message_preview, 80))
        rows.append(
            f'<li><a href="{url}">#{c.pk}</a> {statuses[c.status]} · {opened}'
            f" · {_esc(c.channel.display_name)}<br>"
            f'<span class="muted">{preview}</span></li>'
        )
    return mark_safe("\n        ".join(rows))  # noqa: S308 - every text above is escaped


@register.simple_tag
def select_field(bound_field) -> str:
    """A form's choice field as a plain ``<select>``, options built in one Python pass.

    Same name, id and selection as the widget would render, without a template per option (the
    inbox's channel picker alone has one option per channel: 201 for a Supervisor).
    """
    value = bound_field.value()
    selected = "" if value is None else str(value)
    parts = []
    for key, label in bound_field.field.choices:
        key = str(key)
        mark = " selected" if key == selected else ""
        parts.append(f'<option value="{escape(key)}"{mark}>{escape(label)}</option>')
    options = mark_safe("".join(parts))  # noqa: S308 - every value and label is escaped above
    return format_html(
        '<select name="{}" id="{}">{}</select>',
        bound_field.html_name,
        bound_field.id_for_label,
        options,
    )


@register.filter
def ago_tag(value) -> str:
    """``<time>`` saying how long ago ``value`` was ("5 minutes ago") within the last day, and
    the local date and time after that (the one format of config/formats), which is also its
    title. Past a day "1 day, 6 hours ago" reads worse than the date (and in German,
    humanize's "1 Tage, 6 Stunden her", wrongly)."""
    if value is None:
        return ""
    local = _local(value)
    full = _formatted(local, "DATETIME_FORMAT")
    recent = timezone.is_aware(value) and timezone.now() - value < RELATIVE_TIME_LIMIT
    text = escape(naturaltime(value)) if recent else full
    return mark_safe(  # noqa: S308 - isoformat() needs no escaping; the two texts are escaped
        f'<time class="when" datetime="{local.isoformat()}" title="{full}">{text}</time>'
    )
