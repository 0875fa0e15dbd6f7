"""What the audit log watches: one line per model (docs/audit.md).

Models of apps that may not be installed are named by label and skipped when absent, so that
this list can name every admin-managed model of the desk without importing the apps above it.
"""

from __future__ import annotations

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from audit.registry import register

# (model label, register() options). Everything an admin manages; the runtime state of the
# conversations (messages, events, timers) is not configuration and is not listed.
AUDITED: list[tuple[str, dict]] = [
    ("channels_app.Channel", {}),
    ("channels_app.AccessGrant", {}),
    ("channels_app.Team", {"m2m": ("members",)}),
    ("channels_app.MessageTemplate", {"exclude": ("status_event_at",)}),
    ("onboarding.Onboarding", {}),
    ("onboarding.OnboardingStep", {}),
    ("onboarding.CodeRequest", {}),
    ("api.ApiToken", {"secret": ("token_hash",), "m2m": ("channels",),
                      "exclude": ("last_used_at",)}),
    ("api.WebhookSubscription", {"secret": ("secret",)}),
]

# Users: their roles (staff, superuser, active, groups, permissions, desk teams), names and
# password (a secret: "changed"); last_login and date_joined are not changes of a role.
USER_OPTIONS = {
    "only": (
        "username", "first_name", "last_name", "email", "is_active", "is_staff",
        "is_superuser", "password",
    ),
    "m2m": ("groups", "user_permissions", "desk_teams"),
}  # fmt: skip

# Apps written alongside this one: every model of theirs that an admin edits is audited once
# the app is installed (names checked at startup; an absent app or model is skipped).
OPTIONAL: list[tuple[str, dict]] = [
    ("automations.AutomationRule", {}),
    ("automations.OptOutWord", {}),
    ("routing.ChannelRouting", {}),
    ("routing.TeamRouting", {}),
    # An agent's availability moves all day (presence); capacity and skills are configuration.
    ("routing.AgentState", {"only": ("capacity", "languages"), "m2m": ("topics",)}),
    ("service_levels.ServiceSettings", {}),
    ("service_levels.BusinessInterval", {}),
    ("service_levels.HolidaySet", {}),
    ("service_levels.Holiday", {}),
    ("service_levels.SlaPolicy", {}),
]


def register_all() -> None:
    register(get_user_model(), **USER_OPTIONS)
    register(Group, m2m=("permissions",))
    for label, options in AUDITED + OPTIONAL:
        app_label, _, model_name = label.partition(".")
        try:
            model = apps.get_model(app_label, model_name)
        except LookupError:
            continue
        register(model, **options)
