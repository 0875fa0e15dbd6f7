"""Local checks of the details a customer submits (reference sections 5.2, 5.4 and 5.6).

Meta reviews display names by hand; what can be checked here is checked here, so an obvious
refusal costs minutes instead of a 24-48 hour review. Objective rules are errors; the subjective
ones (generic words, slogans, shouting words) are warnings that an admin may overrule.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

BUSINESS_MANAGER_ID_RE = re.compile(r"^\d{10,20}$")

DISPLAY_NAME_MIN = 3  # Meta's minimum
DISPLAY_NAME_MAX = 255  # our own channel display-name limit

# Emoji blocks plus the joiners and selectors that build emoji sequences.
EMOJI_RE = re.compile(
    "["
    "\U0001f000-\U0001faff"  # mahjong … symbols and pictographs extended-A
    "\U00002600-\U000027bf"  # misc symbols, dingbats
    "\U00002b00-\U00002bff"  # arrows and stars used as emoji
    "\U0001f1e6-\U0001f1ff"  # regional indicators (flags)
    "\u200d\ufe0f\u20e3"  # zero-width joiner, emoji presentation, keycap
    "]"
)
URL_RE = re.compile(
    r"(?i)(https?:|://|\bwww\.|\w\.(?:com|net|org|info|biz|de|at|ch|eu|io|co|uk|us|fr|nl|it|es"
    r"|shop|store|online|app)\b)"
)
SYMBOL_RE = re.compile("[™®©℠]")
PUNCTUATION_RUN_RE = re.compile(r"[!?.*]{2,}")
ACRONYM_MAX = 4
# A word or a place alone is refused as too generic (Meta's examples: "Fashion", "New York").
GENERIC_NAMES = {
    "fashion",
    "plumbing",
    "shop",
    "store",
    "support",
    "service",
    "customer service",
    "sales",
    "news",
    "food",
    "travel",
    "new york",
    "berlin",
    "london",
    "paris",
    "hamburg",
    "münchen",
    "munich",
    "wien",
    "zürich",
}
SLOGAN_WORDS = 6


class NumberKind:
    """phonenumbers' number types as the onboarding needs them."""

    MOBILE = "mobile"
    FIXED_LINE = "fixed_line"
    FIXED_LINE_OR_MOBILE = "fixed_line_or_mobile"
    OTHER = "other"


@dataclass(frozen=True)
class ParsedNumber:
    e164: str
    country_code: str
    national_number: str
    kind: str

    @property
    def code_methods(self) -> tuple[str, ...]:
        """The code deliveries the line can receive; the first is the default.

        The article: SMS for mobile numbers, an automated voice call for landlines. When the
        numbering plan cannot tell (FIXED_LINE_OR_MOBILE, VoIP, …) both are offered, SMS first.
        """
        if self.kind == NumberKind.MOBILE:
            return ("SMS",)
        if self.kind == NumberKind.FIXED_LINE:
            return ("VOICE",)
        return ("SMS", "VOICE")


_KINDS = {
    phonenumbers.PhoneNumberType.MOBILE: NumberKind.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE: NumberKind.FIXED_LINE,
    # Toll-free lines take calls but rarely texts.
    phonenumbers.PhoneNumberType.TOLL_FREE: NumberKind.FIXED_LINE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE: NumberKind.FIXED_LINE_OR_MOBILE,
}


def parse_phone_number(value: str) -> ParsedNumber:
    """The number in E.164 with its kind; ValidationError unless a valid international number."""
    text = (value or "").strip()
    if not text.startswith("+") and not text.startswith("00"):
        raise ValidationError(
            _("Enter the number in international format, starting with + and the country code."),
            code="not_international",
        )
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        raise ValidationError(
            _("This is not a phone number."), code="invalid_phone_number"
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(
            _("This is not a valid phone number for its country."), code="invalid_phone_number"
        )
    kind = _KINDS.get(phonenumbers.number_type(number), NumberKind.OTHER)
    return ParsedNumber(
        e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        country_code=str(number.country_code),
        national_number=phonenumbers.national_significant_number(number),
        kind=kind,
    )


def validate_phone_number(value: str) -> None:
    parse_phone_number(value)


def validate_business_manager_id(value: str) -> None:
    """Meta documents no fixed length; observed ids have 15-16 digits (reference 5.6)."""
    if not BUSINESS_MANAGER_ID_RE.fullmatch(value or ""):
        raise ValidationError(
            _(
                "The Business Manager ID has digits only, 10 to 20 of them "
                "(Business settings → Business info)."
            ),
            code="invalid_business_manager_id",
        )


def display_name_problems(name: str) -> tuple[list[str], list[str]]:
    """(errors, warnings) for a WhatsApp display name under Meta's checkable rules."""
    errors: list[str] = []
    warnings: list[str] = []
    name = name or ""
    letters = [c for c in name if c.isalpha()]
    if len(name.strip()) < DISPLAY_NAME_MIN:
        errors.append(_("A display name has at least 3 characters."))
    if len(name) > DISPLAY_NAME_MAX:
        errors.append(_("A display name has at most 255 characters."))
    if EMOJI_RE.search(name) or any(
        unicodedata.category(c) == "So" and not SYMBOL_RE.match(c) for c in name
    ):
        errors.append(_("A display name may not contain emoji or pictographs."))
    if SYMBOL_RE.search(name):
        errors.append(_("A display name may not contain ™, ®, © or similar symbols."))
    if URL_RE.search(name):
        errors.append(_("A display name may not look like a web address (www., http, .com)."))
    if PUNCTUATION_RUN_RE.search(name):
        errors.append(_("A display name may not repeat punctuation such as !!, ?! or ..."))
    words = re.findall(r"[^\W\d_]+", name)
    long_caps = [w for w in words if len(w) > ACRONYM_MAX and w.isupper()]
    if letters and all(c.isupper() for c in letters) and long_caps:
        errors.append(
            _("A display name may not be all capitals (acronyms of up to 4 letters are fine).")
        )
    elif long_caps:
        warnings.append(
            _("Capitalised words (%(words)s) are refused unless the brand is written so.")
            % {"words": ", ".join(long_caps)}
        )
    if name.strip().casefold() in GENERIC_NAMES:
        warnings.append(_("A generic word or a place alone is usually refused as too generic."))
    if len(name.split()) > SLOGAN_WORDS:
        warnings.append(_("Slogans and long descriptions are usually refused; use the brand."))
    if "  " in name or name != name.strip():
        warnings.append(_("Spacing should be consistent (no double or outer spaces)."))
    return [str(e) for e in errors], [str(w) for w in warnings]


def validate_display_name(value: str) -> None:
    errors, _warnings = display_name_problems(value)
    if errors:
        raise ValidationError(errors, code="invalid_display_name")
