"""The placeholders of saved replies: ``{{contact.first_name}}``, ``{{agent.name|the team}}``.

Plain text substitution, never the Django template engine: a saved reply is user text, and
whatever else it contains (braces, percent signs, ``{% ... %}``) stays exactly as written.
Pure functions, no queries: the values come in a ``PlaceholderValues`` built by the caller.
See docs/saved-replies.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# Every name a placeholder may use. Adding one means a value in PlaceholderValues.of() too.
NAMES = (
    "contact.first_name",
    "contact.name",
    "agent.first_name",
    "agent.name",
    "channel.name",
)
MAX_FALLBACK = 100

# ``{{ name }}`` or ``{{ name|fallback }}``; the fallback may not contain braces or a newline.
PLACEHOLDER = re.compile(r"\{\{\s*([^{}|\n]*?)\s*(?:\|([^{}\n]*))?\}\}")
# Anything that opens like a placeholder; checked against PLACEHOLDER to find broken ones.
OPENING = re.compile(r"\{\{")


@dataclass(frozen=True)
class PlaceholderValues:
    """What each placeholder name stands for in one conversation, for one agent ("" = unknown,
    so the fallback is used)."""

    values: dict[str, str]

    @classmethod
    def of(cls, *, agent=None, conversation=None) -> PlaceholderValues:
        """Values from an agent (a user) and a conversation with its contact and channel loaded.
        Either may be None (a preview outside a conversation): their placeholders then fall back.
        """
        values = dict.fromkeys(NAMES, "")
        if agent is not None:
            values["agent.first_name"] = (agent.first_name or "").strip()
            values["agent.name"] = (agent.get_full_name() or agent.get_username()).strip()
        if conversation is not None:
            name = (conversation.contact.profile_name or "").strip()
            values["contact.name"] = name
            values["contact.first_name"] = name.split()[0] if name else ""
            values["channel.name"] = conversation.channel.display_name.strip()
        return cls(values)


def problems(text: str) -> list[str]:
    """Why ``text`` cannot be saved, one message per broken or unknown placeholder (empty when
    every ``{{ ... }}`` in it is a known placeholder)."""
    errors: list[str] = []
    known = {m.start(): m for m in PLACEHOLDER.finditer(text)}
    for opening in OPENING.finditer(text):
        start = opening.start()
        match = known.get(start)
        if match is None:
            # Part of a placeholder already checked ("{{{" opens twice), or not closed.
            if any(m.start() < start < m.end() for m in known.values()):
                continue
            snippet = text[start : start + 30].split("\n")[0]
            errors.append(
                str(
                    _(
                        "“%(text)s” is not a complete placeholder: write {{name}} or "
                        "{{name|fallback}}."
                    )
                )
                % {"text": snippet}
            )
            continue
        name, fallback = match.group(1), match.group(2)
        if name not in NAMES:
            errors.append(
                str(_("Unknown placeholder “%(placeholder)s”. Use one of: %(names)s."))
                % {
                    "placeholder": match.group(0),
                    "names": ", ".join("{{" + n + "}}" for n in NAMES),
                }
            )
        elif fallback is not None and len(fallback.strip()) > MAX_FALLBACK:
            errors.append(
                str(_("The fallback of “%(name)s” is longer than %(max)d characters."))
                % {"name": name, "max": MAX_FALLBACK}
            )
    return errors


def validate(text: str) -> None:
    """Raise ValidationError listing every broken or unknown placeholder of ``text``."""
    errors = problems(text)
    if errors:
        raise ValidationError(errors)


def render(text: str, values: PlaceholderValues) -> str:
    """``text`` with each placeholder replaced by its value, or by its fallback when the value
    is empty (or by nothing when there is no fallback). Text that is not a known placeholder is
    left exactly as it is."""

    def fill(match: re.Match) -> str:
        name, fallback = match.group(1), match.group(2)
        if name not in values.values:
            return match.group(0)
        value = values.values[name]
        if value:
            return value
        return (fallback or "").strip()

    return PLACEHOLDER.sub(fill, text)
