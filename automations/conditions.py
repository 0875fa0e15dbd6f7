"""Does an inbound message meet a rule's conditions? Pure functions over plain values, so the
engine can check 20 rules against a message without a query per rule.

Patterns are admin input matched against customer text: they are compiled with the ``regex``
module and each match gets ``PATTERN_TIMEOUT_S``; a pattern that runs out of time counts as "no
match" and is logged. ``pattern_problem`` refuses, when the rule is saved, what is not a valid
pattern, what is too long, and the nested quantifiers that backtrack catastrophically
(``(a+)+``, ``(x*)*``), so the timeout is a last line, not the usual outcome.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

import regex
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)

PATTERN_TIMEOUT_S = 0.05
MAX_PATTERN = 200
# Text beyond this is not looked at by patterns (a 64 KiB message is not a keyword).
MAX_TEXT = 4096
# A group with a quantifier inside, itself quantified: the shape of catastrophic backtracking.
NESTED_QUANTIFIER = regex.compile(r"\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)\s*[+*{]")


@dataclass(frozen=True)
class Inbound:
    """What the conditions look at of one customer message."""

    channel_id: int
    type: str
    text: str
    button_payload: str
    opened_conversation: bool


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be used (translated), or None."""
    if len(pattern) > MAX_PATTERN:
        return _("A pattern can be at most %(max)d characters long.") % {"max": MAX_PATTERN}
    try:
        regex.compile(pattern, regex.IGNORECASE)
    except regex.error as exc:
        return _("This is not a valid pattern: %(error)s") % {"error": exc}
    if NESTED_QUANTIFIER.search(pattern):
        return _(
            "Repeated groups that repeat inside, such as (a+)+, can take very long on some "
            "texts; write the pattern without them."
        )
    return None


@lru_cache(maxsize=512)
def _compiled(pattern: str):
    return regex.compile(pattern, regex.IGNORECASE)


def pattern_matches(pattern: str, text: str) -> bool:
    """A time-boxed search; a timeout or an invalid pattern is no match (logged)."""
    try:
        return _compiled(pattern).search(text[:MAX_TEXT], timeout=PATTERN_TIMEOUT_S) is not None
    except TimeoutError:
        logger.warning("automation pattern %r ran out of time; treated as no match", pattern)
    except regex.error:
        logger.warning("automation pattern %r is not valid; treated as no match", pattern)
    return False


def contains_any(words: str, text: str) -> bool:
    lowered = text.casefold()
    return any(w.strip().casefold() in lowered for w in words.split(",") if w.strip())


def matches(rule, message: Inbound, *, hours_open) -> bool:
    """Whether ``message`` meets every condition ``rule`` sets. ``hours_open()`` is asked only
    when the rule has a business-hours condition (it may cost a query)."""
    if rule.channel_id != message.channel_id:
        return False
    if rule.message_type and rule.message_type != message.type:
        return False
    if rule.conversation_is == "new" and not message.opened_conversation:
        return False
    if rule.conversation_is == "existing" and message.opened_conversation:
        return False
    if rule.button_payload and rule.button_payload != message.button_payload:
        return False
    if rule.text_contains and not contains_any(rule.text_contains, message.text):
        return False
    if rule.text_pattern and not pattern_matches(rule.text_pattern, message.text):
        return False
    if rule.business_hours:
        return hours_open() == (rule.business_hours == "open")
    return True
