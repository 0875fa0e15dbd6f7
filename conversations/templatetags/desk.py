"""Presentation helpers for the agent pages (kept out of the models)."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache

from django import template
from django.conf import settings
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.template import engines
from django.utils import dateformat, formats, timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import conditional_escape, format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from channels_app.whatsapp.failures import describe_failure
from channels_app.whatsapp.media_policy import strip_bidi
from conversations import thread_extras
from conversations.models import Conversation, Event, Message
from conversations.services import outbound

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
    # Kinds written by other apps' services (issue 19): automations, opt-outs, priority.
    if kind == "automation":
        return _("Automation “%(name)s” ran") % {"name": data.get("name", "?")}
    if kind in ("opted_out", "opted_in"):
        sources = {"keyword": _("a stop or start word"), "meta": _("reported by WhatsApp"),
                   "agent": _("by an agent")}  # fmt: skip
        source = sources.get(data.get("source"), data.get("source") or "?")
        if kind == "opted_out":
            return _("Opted out of marketing (%(source)s)") % {"source": source}
        return _("Opted back in to marketing (%(source)s)") % {"source": source}
    if kind == "priority_changed":
        labels = dict(Conversation.Priority.choices)
        return _("Priority set to %(priority)s") % {"priority": labels.get(data.get("to"), "?")}
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
    # Written by the service levels' sweep (service_levels.sweep, docs/service-levels.md).
    if kind in ("sla_warning", "sla_breached"):
        target = {
            "first_response": _("first response"),
            "next_response": _("next response"),
            "resolution": _("resolution"),
        }.get(data.get("target"), data.get("target", "?"))
        if kind == "sla_warning":
            return _("SLA warning: 80 %% of the %(target)s time used") % {"target": target}
        return _("SLA target missed: %(target)s") % {"target": target}
    if kind == "window_closing":
        return _("The 24-hour reply window closes within the hour")
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
    return _date_text(local, str(formats.get_format(fmt)))


@register.filter
def bdi(value) -> str:
    """``<bdi>value</bdi>``, escaped: a customer's text (name, message, file name) isolated from
    the text around it, whatever bidi controls it holds (docs/security.md, item 9)."""
    text = conditional_escape(value)
    return format_html("<bdi>{}</bdi>", text) if text else ""


@register.filter
def isolate(value) -> str:
    """The plain-text ``<bdi>``: the value between FIRST STRONG ISOLATE and POP DIRECTIONAL
    ISOLATE, for places that hold no markup (``<title>``, attributes, ``<option>``)."""
    return f"\u2068{value}\u2069"


class LocalTimes:
    """Many datetimes in the current time zone and one localized format, both read once (the
    Jinja2 templates' ``local_times()``: ``times.text(times.local(value))``)."""

    def __init__(self, fmt: str = "SHORT_DATETIME_FORMAT"):
        self.tz = timezone.get_current_timezone()
        self.format = str(formats.get_format(fmt))

    def local(self, value):
        return value.astimezone(self.tz) if timezone.is_aware(value) else value

    def text(self, local) -> str:
        return _date_text(local, self.format)

    def stamp(self, value) -> tuple[str, str]:
        """``(ISO datetime, localized text)`` for a ``<time>`` tag."""
        local = self.local(value)
        return local.isoformat(), _date_text(local, self.format)


@register.filter
def time_tag(value, fmt: str = "SHORT_DATETIME_FORMAT") -> str:
    """``<time datetime="ISO">localized</time>`` in the current time zone: one conversion per
    row instead of the two that a pair of ``date`` filters costs on long lists."""
    if value is None:
        return ""
    local = _local(value)
    return format_html('<time datetime="{}">{}</time>', local.isoformat(), _formatted(local, fmt))


class _Labels(dict):
    """The display labels of a field's choices, each translated on first use (once a render,
    where ``get_FOO_display()`` rebuilds its choices dict and translates on every row)."""

    def __init__(self, choices):
        super().__init__()
        self.choices = dict(choices)

    def __missing__(self, value):
        label = self[value] = str(self.choices.get(value, value))
        return label


def _rows(template_name: str, context: dict) -> str:
    """A Jinja2 template of conversations/jinja2/ rendered once for a whole list. Autoescape
    escaped every value in it, so its output is markup for the Django page around it."""
    # The template's ``_("...")`` translated once a render (the language is fixed for it): a
    # Django gettext() call costs more than a row's markup.
    context["_"] = context["gettext"] = lru_cache(maxsize=None)(_)
    html = engines["jinja2"].env.get_template(template_name).render(context)
    return mark_safe(html)  # noqa: S308 - the output of an autoescaped template


def _user_name(user) -> str:
    return "" if user is None else user.get_full_name() or user.get_username()


def _is_inline(payload: dict, inline_types) -> bool:
    try:
        return (payload.get("file_type") or payload.get("mime_type")) in inline_types
    except TypeError:  # not a string: the old template's ``in`` said False
        return False


def _file_label(payload: dict) -> str:
    # No bidi controls in a file name ("invoice\u202efdp.exe"), and isolated all the same.
    name = strip_bidi(str(payload.get("filename") or ""))
    return str(formats.localize(name or _("Download attachment")))


def _download_error(payload: dict) -> str:
    """Why an attachment could not be downloaded, translated when it is one of
    conversations.media's fixed sentences."""
    return str(formats.localize(_(str(payload.get("download_error")))))


def _earlier_versions(payload: dict) -> list[tuple]:
    """The earlier versions of an edited message, the original first: ``(when or None, text)``."""
    versions = payload.get("versions")
    versions = [v for v in versions if isinstance(v, dict)] if isinstance(versions, list) else []
    return [
        (parse_datetime(str(v.get("at") or "")), str(v.get("body") or "")) for v in versions[:-1]
    ]


def _fallback_line(m, payload: dict) -> str:
    """What a message without text shows instead, so that no row is blank (issue 21)."""
    if m.type == Message.Type.UNREADABLE:
        return _("A message the desk could not read — open WhatsApp to see it.")
    if m.type == Message.Type.UNSUPPORTED:
        return _("A kind of message the desk cannot show — open WhatsApp to see it.")
    if m.type == Message.Type.REACTION and payload.get("removed"):
        return _("Reaction removed")
    if m.type == Message.Type.LOCATION and "latitude" in payload:
        return f"{payload.get('latitude')}, {payload.get('longitude')}"
    if m.type == Message.Type.ORDER and isinstance(payload.get("order"), dict):
        items = payload["order"].get("product_items")
        count = len(items) if isinstance(items, list) else 0
        return ngettext("%(count)d item ordered", "%(count)d items ordered", count) % {
            "count": count
        }
    return ""


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


@register.filter
def failure_text(message) -> str:
    """Why a failed message failed, in the active language (from Meta's stored code)."""
    transient = bool(outbound.failure_of(message).get("transient"))
    return describe_failure(message.failure_code, message.failure_reason, transient=transient)


# What the thread's template calls and compares with (the same for every render).
_THREAD_HELPERS = {
    "Type": Message.Type,
    "Direction": Message.Direction,
    "Delivery": Message.Delivery,
    "Via": Message.Via,
    "user_name": _user_name,
    "is_inline": _is_inline,
    "file_label": _file_label,
    "download_error": _download_error,
    "earlier_versions": _earlier_versions,
    "fallback_line": _fallback_line,
    "system_line": _system_line,
    "failure_text": failure_text,
    # Issue 16: players, contact cards, buttons and lists, the reaction palette.
    "player": thread_extras.player,
    "contact_cards": thread_extras.contact_cards,
    "choices": thread_extras.choices,
    "emojis": thread_extras.EMOJIS,
    "can_retry": outbound.can_retry,
}


@register.simple_tag
def thread_items(
    items,
    attachment_base: str,
    inline_types,
    show_deleted: bool = False,
    can_reply: bool = False,
    csrf_token: str = "",
    later=True,
) -> str:
    """The thread's rows (``<li>`` per message and note): conversations/_thread_rows.html of
    the Jinja2 backend, rendered once for the page.

    A deleted message shows its kept text, versions and attachment (struck through) only to a
    reader with access.Cap.SEE_DELETED (``show_deleted``) until the erase job removes them. A
    failed reply says why in the reader's language (failures.describe_failure) and, for a user
    who can reply and a failure that may be retried, carries a Retry button.

    A Django template per row ran ~20 nodes and a ``get_*_display()`` per row, about half of
    the conversation page's render time; here the time zone, the date format and the labels are
    read once a page. ``inline_types``: the attachment types shown as a picture. ``later``: the
    page's cursor to newer messages (ThreadPage.later), None when it reaches the thread's end.
    """
    times = LocalTimes()
    # The reactions shown on their targets and the quoted messages (two queries at most, none
    # for reactions on the latest page).
    rows = [item.obj for item in items if item.kind == "message"]
    extras = thread_extras.for_page(
        _conversation_of(rows, attachment_base), rows, reaches_end=later is None
    )
    return _rows(
        "conversations/_thread_rows.html",
        {
            "reactions": extras.reactions,
            "folded": extras.folded,
            "quotes": extras.quotes,
            **_THREAD_HELPERS,
            # Each row with its <time>'s two texts: a call from a template costs more than here.
            "rows": [(item.kind, item.obj, *times.stamp(item.at)) for item in items],
            "times": times,
            "attachment_base": attachment_base,
            "inline_types": inline_types,
            "show_deleted": show_deleted,
            "retry_token": csrf_token if can_reply else "",
            "retention": settings.DELETED_MESSAGE_RETENTION,
            "types": _Labels(Message.Type.choices),
            "deliveries": _Labels(Message.Delivery.choices),
        },
    )


def _conversation_of(rows, attachment_base: str) -> int | None:
    """The conversation id of a thread page (its attachment base is /conversations/<id>/…)."""
    parts = [p for p in attachment_base.split("/") if p.isdigit()]
    return int(parts[0]) if parts else None


@register.simple_tag
def event_items(events) -> str:
    """The history panel's rows, one ``<li>`` per event: conversations/_history_rows.html."""
    # A history repeats itself (New → Pending, Pending → New, ...): each distinct line is
    # described and translated once.
    lines = {}

    def describe(e) -> str:
        key = (e.kind, repr(e.data))
        line = lines.get(key)
        if line is None:
            line = lines[key] = describe_event(e)
        return line

    times = LocalTimes()
    # Plain texts, escaped by the template: (line, who, ISO datetime, localized datetime).
    rows = [(describe(e), actor_name(e), *times.stamp(e.created_at)) for e in events]
    return _rows("conversations/_history_rows.html", {"rows": rows})


@register.simple_tag
def earlier_items(conversations) -> str:
    """The contact's earlier conversations, one ``<li>`` each: conversations/_earlier_rows.html."""
    return _rows(
        "conversations/_earlier_rows.html",
        {"conversations": conversations, "statuses": _Labels(Conversation.Status.choices)},
    )


@register.simple_tag
def select_field(bound_field) -> str:
    """A form's choice field as a plain ``<select>``, options built in one Python pass.

    Same name, id and selection as the widget would render, without a template per option (the
    inbox's channel picker alone has one option per channel: 201 for a Supervisor).
    """
    value = bound_field.value()
    selected = "" if value is None else str(value)
    options = format_html_join(
        "",
        '<option value="{}"{}>{}</option>',
        (
            (key, mark_safe(" selected") if key == selected else "", label)
            for key, label in ((str(k), v) for k, v in bound_field.field.choices)
        ),
    )
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
    text = naturaltime(value) if recent else full
    return format_html(
        '<time class="when" datetime="{}" title="{}">{}</time>', local.isoformat(), full, text
    )
