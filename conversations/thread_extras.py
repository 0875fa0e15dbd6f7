"""What the thread shows around a message besides its own row (issue 16; docs/composer.md):
the reactions on it and the message a reply quotes, found for a whole page at once.

A reaction is a message of its own (type ``reaction``, ``payload.message_id`` the target's
wamid), in or out. The thread shows it on its target: each side's latest reaction (the
customer's, the business's), an empty emoji taking it back. A reaction whose target is on the
page is no row of its own; one whose target is older than the page stays a row that quotes
its target. A quote (``reply_to_provider_id``, Meta's ``context.id``) is looked up in the
conversation; a quoted message the desk never saw says so. Two queries a page at most.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from conversations.models import Message

QUOTE_LENGTH = 140


@dataclass(frozen=True)
class Quote:
    direction: str
    type: str
    text: str
    pk: int


@dataclass
class Extras:
    # Target message pk → [(emoji, direction, author name)], the customer's first.
    reactions: dict[int, list[tuple[str, str, str]]] = field(default_factory=dict)
    # Reaction rows shown on their target instead of as rows.
    folded: set[int] = field(default_factory=set)
    # wamid → the quoted (or reacted-to) message.
    quotes: dict[str, Quote] = field(default_factory=dict)


def _text(body: str, type_: str, payload) -> str:
    text = " ".join((body or "").split())
    if not text and isinstance(payload, dict):
        text = str(payload.get("filename") or "")
    if not text:
        text = f"[{Message.Type(type_).label}]" if type_ in Message.Type.values else f"[{type_}]"
    return text[:QUOTE_LENGTH] + ("…" if len(text) > QUOTE_LENGTH else "")


def _names(user) -> tuple[str, str, str]:
    if user is None:
        return "", "", ""
    return user.first_name or "", user.last_name or "", user.username or ""


def _author(first: str, last: str, username: str) -> str:
    return f"{first} {last}".strip() or username or ""


def for_page(conversation_id: int | None, rows: list, *, reaches_end: bool = False) -> Extras:
    """The reactions and quotes of one thread page (``rows``: its ThreadRow messages). Without
    a conversation id only the page itself is searched (no query). A page that ``reaches_end``
    of the thread (the latest page, the one the conversation opens on) holds every reaction to
    its messages already, since a reaction comes after its target: none is read again."""
    extras = Extras()
    messages = [r for r in rows if getattr(r, "direction", "")]
    by_wamid = {
        r.provider_message_id: r for r in messages if getattr(r, "provider_message_id", None)
    }
    for r in messages:
        if r.provider_message_id:
            extras.quotes[r.provider_message_id] = Quote(
                r.direction, r.type, _text(r.body, r.type, r.payload), r.pk
            )
    wanted = {r.reply_to_provider_id for r in messages if getattr(r, "reply_to_provider_id", "")}
    wanted |= {
        str(r.payload.get("message_id"))
        for r in messages
        if r.type == Message.Type.REACTION and isinstance(r.payload, dict)
        and r.payload.get("message_id")
    }  # fmt: skip
    missing = wanted - set(extras.quotes)
    if missing and conversation_id is not None:
        for pk, wamid, direction, type_, body, payload in Message.objects.filter(
            conversation_id=conversation_id, provider_message_id__in=missing
        ).values_list("pk", "provider_message_id", "direction", "type", "body", "payload"):
            extras.quotes[wamid] = Quote(direction, type_, _text(body, type_, payload), pk)
    if not by_wamid:
        return extras
    # Every reaction to a message of this page, wherever it sits in the thread.
    latest: dict[tuple[str, str], tuple[str, str, int]] = {}
    if conversation_id is None or reaches_end:
        reactions = [
            (r.pk, r.direction, r.payload, *_names(r.author))
            for r in messages
            if r.type == Message.Type.REACTION
            and isinstance(r.payload, dict)
            and r.payload.get("message_id") in by_wamid
        ]
    else:
        reactions = (
            Message.objects.filter(
                conversation_id=conversation_id,
                # A reaction comes after its target: msg_thread reads from the page's start on.
                created_at__gte=min(r.created_at for r in messages),
                type=Message.Type.REACTION,
                payload__message_id__in=list(by_wamid),
            )
            .order_by("created_at", "id")
            .values_list(
                "pk", "direction", "payload", "author__first_name", "author__last_name",
                "author__username",
            )
        )  # fmt: skip
    for pk, direction, payload, first, last, username in reactions:
        target = str(payload.get("message_id") or "") if isinstance(payload, dict) else ""
        emoji = str(payload.get("emoji") or "") if isinstance(payload, dict) else ""
        latest[target, direction] = (emoji, _author(first, last, username), pk)
        extras.folded.add(pk)
    for (target, direction), (emoji, who, _pk) in sorted(
        latest.items(), key=lambda kv: kv[0][1] != Message.Direction.INBOUND
    ):
        if emoji and target in by_wamid:
            extras.reactions.setdefault(by_wamid[target].pk, []).append((emoji, direction, who))
    return extras


# --- helpers the thread's template calls (desk._THREAD_HELPERS) --------------------------------
EMOJIS = ("👍", "❤️", "😂", "😮", "😢", "🙏")


def player(payload: dict) -> str:
    """ "audio" or "video" when the stored file plays in the browser's own player, else ""."""
    mime = str(payload.get("file_type") or payload.get("mime_type") or "").split(";")[0]
    family = mime.split("/")[0]
    return family if family in ("audio", "video") and "xml" not in mime else ""


def _strings(value, key: str) -> list[str]:
    items = value if isinstance(value, list) else []
    return [str(i.get(key)) for i in items if isinstance(i, dict) and i.get(key)][:5]


def contact_cards(payload: dict) -> list[tuple[str, list[str], list[str], str]]:
    """(name, phones, emails, organisation) of each shared card, whatever shape it came in."""
    cards = payload.get("contacts") if isinstance(payload.get("contacts"), list) else []
    shown = []
    for card in cards[:10]:
        if not isinstance(card, dict):
            continue
        name = card.get("name") if isinstance(card.get("name"), dict) else {}
        org = card.get("org") if isinstance(card.get("org"), dict) else {}
        shown.append(
            (
                str(name.get("formatted_name") or name.get("first_name") or "?"),
                _strings(card.get("phones"), "phone"),
                _strings(card.get("emails"), "email"),
                str(org.get("company") or ""),
            )
        )
    return shown


@dataclass
class Choices:
    options: list[tuple[str, str, str]] = field(default_factory=list)
    button: str = ""
    answer: str = ""
    answer_label: str = ""


def choices(m, payload: dict) -> Choices:
    """What an interactive message offered (its buttons, or its list's label and rows), or what
    the customer's answer carried (the button or row id, the template button's payload)."""
    shown = Choices()
    if m.type == Message.Type.BUTTON:
        shown.answer, shown.answer_label = str(payload.get("payload") or ""), _("Payload:")
        return shown
    if payload.get("interactive_type"):
        shown.answer, shown.answer_label = str(payload.get("id") or ""), _("Answer id:")
        return shown
    interactive = payload.get("interactive") if isinstance(payload.get("interactive"), dict) else {}
    action = interactive.get("action") if isinstance(interactive.get("action"), dict) else {}
    for button in action.get("buttons") or []:
        reply = button.get("reply") if isinstance(button, dict) else None
        if isinstance(reply, dict):
            shown.options.append((str(reply.get("id") or ""), str(reply.get("title") or ""), ""))
    for section in action.get("sections") or []:
        for row in (section.get("rows") or []) if isinstance(section, dict) else []:
            if isinstance(row, dict):
                shown.options.append(
                    (
                        str(row.get("id") or ""),
                        str(row.get("title") or ""),
                        str(row.get("description") or ""),
                    )
                )
    if action.get("button"):
        shown.button = str(action["button"])
    return shown
