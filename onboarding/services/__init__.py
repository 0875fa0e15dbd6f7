"""Every state change of an onboarding: steps, codes, and the provider calls that drive them.

Services take the onboarding positionally and everything else keyword-only, with a required
``actor`` (a user, or None for the system) and an optional ``now``; see base.py for the rules
they share and docs/onboarding.md. Callers use the package: ``services.add_number(...)``.

    errors     OnboardingError and its kinds; TemplateProgress
    base       the checklist's loading, locking and completing; the provider client
    details    the onboarding's details; the manual steps (terms, advance, waiting, blocked)
    number     steps 3, 6, 7: the number at Meta, its code, registering and the channel
    profile    steps 8, 9: business profile and logo, the verified badge
    templates  step 10: templates submitted and their progress
    overdue    steps past their expected wait, in business time
"""
from onboarding.services.base import (
    Actor,
    State,
    client_for,
    missing_prerequisites,
)
from onboarding.services.details import (
    advance_step,
    block_step,
    clean_details,
    create_onboarding,
    mark_waiting,
    record_terms,
    update_details,
)
from onboarding.services.errors import (
    CodeExpired,
    NoCodeRequested,
    OnboardingError,
    ProviderRefused,
    StepAlreadyDone,
    StepOutOfOrder,
    TemplateProgress,
    TooManyAttempts,
    TooManyCodeRequests,
    WrongAction,
    WrongCode,
)
from onboarding.services.number import (
    add_number,
    register_number,
    request_code,
    verify_code,
)
from onboarding.services.overdue import (
    flag_overdue,
)
from onboarding.services.profile import (
    LOGO_FORMATS,
    MAX_LOGO_BYTES,
    VERTICALS,
    check_logo,
    refresh_badge,
    request_badge,
    set_business_profile,
)
from onboarding.services.templates import (
    refresh_templates,
    submit_templates,
)

__all__ = [
    "LOGO_FORMATS",
    "MAX_LOGO_BYTES",
    "VERTICALS",
    "Actor",
    "CodeExpired",
    "NoCodeRequested",
    "OnboardingError",
    "ProviderRefused",
    "State",
    "StepAlreadyDone",
    "StepOutOfOrder",
    "TemplateProgress",
    "TooManyAttempts",
    "TooManyCodeRequests",
    "WrongAction",
    "WrongCode",
    "add_number",
    "advance_step",
    "block_step",
    "check_logo",
    "clean_details",
    "client_for",
    "create_onboarding",
    "flag_overdue",
    "mark_waiting",
    "missing_prerequisites",
    "record_terms",
    "refresh_badge",
    "refresh_templates",
    "register_number",
    "request_badge",
    "request_code",
    "set_business_profile",
    "submit_templates",
    "update_details",
    "verify_code",
]
