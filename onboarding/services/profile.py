"""Steps 8 and 9: the business profile with its logo, and the verified badge."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from PIL import Image, UnidentifiedImageError

from onboarding.models import (
    Onboarding,
    OnboardingStep,
)
from onboarding.services.base import (
    Actor,
    State,
    _append_note,
    _call,
    _check_actionable,
    _complete,
    _locked,
    _now,
    _require_number_id,
    _steps_of,
    client_for,
)
from onboarding.services.errors import OnboardingError

logger = logging.getLogger(__name__)

MAX_LOGO_BYTES = 5 * 2**20  # Meta: profile images up to 5 MB
LOGO_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png"}
# Meta's business-profile verticals (reference 5.7).
VERTICALS = (
    "AUTO",
    "BEAUTY",
    "APPAREL",
    "EDU",
    "ENTERTAIN",
    "EVENT_PLAN",
    "FINANCE",
    "GROCERY",
    "GOVT",
    "HOTEL",
    "HEALTH",
    "NONPROFIT",
    "PROF_SERVICES",
    "RETAIL",
    "TRAVEL",
    "RESTAURANT",
    "OTHER",
)


# --- step 8: business profile and logo -----------------------------------------------------------
def check_logo(content: bytes) -> str:
    """The MIME type of a logo that Meta accepts (JPEG or PNG, at most 5 MB), judged from the
    bytes themselves; ValidationError otherwise."""
    if len(content) > MAX_LOGO_BYTES:
        raise ValidationError(_("The logo is larger than 5 MB."))
    try:
        with Image.open(io.BytesIO(content)) as image:
            image_format = image.format
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ValidationError(_("The logo is not a readable image.")) from None
    if image_format not in LOGO_FORMATS:
        raise ValidationError(_("The logo must be a JPEG or PNG image."))
    return LOGO_FORMATS[image_format]


def _clean_profile(
    *,
    about: str,
    description: str,
    email: str,
    address: str,
    websites: Sequence[str],
    vertical: str,
) -> dict:
    errors: dict[str, list] = {}
    about = (about or "").strip()
    if not 1 <= len(about) <= 139:
        errors["about"] = [_("The About text has 1 to 139 characters.")]
    if len(description or "") > 512:
        errors["description"] = [_("The description has at most 512 characters.")]
    if len(address or "") > 256:
        errors["address"] = [_("The address has at most 256 characters.")]
    if email:
        try:
            EmailValidator()(email)
            if len(email) > 128:
                raise ValidationError("")
        except ValidationError:
            errors["email"] = [_("Enter a valid e-mail address of at most 128 characters.")]
    sites = [w.strip() for w in websites if w and w.strip()]
    try:
        if len(sites) > 2:
            raise ValidationError("")
        for site in sites:
            URLValidator(schemes=["http", "https"])(site)
            if len(site) > 256:
                raise ValidationError("")
    except ValidationError:
        errors["websites"] = [_("At most two web addresses starting with http:// or https://.")]
    if vertical and vertical not in VERTICALS:
        errors["vertical"] = [_("Pick an industry from the list.")]
    if errors:
        raise ValidationError(errors)
    optional = {"description": description, "email": email, "address": address}
    return {
        "about": about,
        "websites": sites,
        **{key: value for key, value in {**optional, "vertical": vertical}.items() if value},
    }


def set_business_profile(
    onboarding: Onboarding,
    *,
    about: str,
    logo: bytes,
    logo_name: str = "logo",
    description: str = "",
    email: str = "",
    address: str = "",
    websites: Sequence[str] = (),
    vertical: str = "",
    actor: Actor,
    now: datetime | None = None,
) -> OnboardingStep:
    """Step 8: upload the logo and set the WhatsApp business profile; completes the step.

    The logo's type (JPEG/PNG from its bytes) and size (≤ 5 MB) and the profile's field limits
    are checked before anything is uploaded.
    """
    now = _now(now)
    fields = _clean_profile(
        about=about,
        description=description,
        email=email,
        address=address,
        websites=websites,
        vertical=vertical,
    )
    mime_type = check_logo(logo)
    _check_actionable("profile", _steps_of(onboarding))
    phone_number_id = _require_number_id(onboarding)
    client = client_for(onboarding)
    handle = _call(
        client.upload_media,
        phone_number_id,
        content=logo,
        mime_type=mime_type,
        filename=logo_name or "logo",
    )
    _call(client.update_business_profile, phone_number_id, profile_picture_handle=handle, **fields)
    with transaction.atomic():
        locked, by_key = _locked(onboarding)
        return _complete(locked, by_key, "profile", actor=actor, now=now)


# --- step 9: the verified badge ------------------------------------------------------------------
def request_badge(
    onboarding: Onboarding,
    *,
    website_url: str,
    country: str,
    language: str,
    supporting_links: Iterable[str] = (),
    actor: Actor,
    now: datetime | None = None,
) -> OnboardingStep:
    """Step 9a: ask Meta for the Official Business Account badge; the step then waits on Meta."""
    now = _now(now)
    errors: dict[str, list] = {}
    try:
        URLValidator(schemes=["http", "https"])(website_url or "")
    except ValidationError:
        errors["website_url"] = [_("Enter the business website, starting with https://.")]
    if not (len(country or "") == 2 and country.isalpha()):
        errors["country"] = [_("Use the two-letter country code, e.g. DE.")]
    if not (language or "").strip():
        errors["language"] = [_("Name the primary language, e.g. German.")]
    if errors:
        raise ValidationError(errors)
    _check_actionable("badge", _steps_of(onboarding))
    phone_number_id = _require_number_id(onboarding)
    _call(
        client_for(onboarding).request_official_business_account,
        phone_number_id,
        business_website_url=website_url,
        primary_country_of_operation=country.upper(),
        primary_language=language.strip(),
        supporting_links=[link for link in supporting_links if link],
    )
    with transaction.atomic():
        locked, by_key = _locked(onboarding)
        step = _check_actionable("badge", by_key)
        locked.badge_requested_at = now
        locked.save(update_fields=["badge_requested_at"])
        step.state = State.WAITING
        step.blocked_reason = ""
        _append_note(step, _("Badge requested."), now)
        step.save()
        return step


def refresh_badge(onboarding: Onboarding, *, actor: Actor, now: datetime | None = None) -> bool:
    """Step 9b: ask Meta whether the badge was granted; completes the step if so. Returns it."""
    now = _now(now)
    _check_actionable("badge", _steps_of(onboarding))
    if onboarding.badge_requested_at is None:
        raise OnboardingError(_("Request the badge first."))
    number = _call(
        client_for(onboarding).get_phone_number,
        _require_number_id(onboarding),
        fields=["is_official_business_account"],
    )
    if not number.get("is_official_business_account"):
        return False
    with transaction.atomic():
        locked, by_key = _locked(onboarding)
        _complete(locked, by_key, "badge", actor=actor, now=now, note=str(_("Badge granted.")))
    return True
