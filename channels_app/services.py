"""Every write to a channel's settings, its access grants and team membership.

The admin (``save_model``, ``save_formset``, actions), commands and tests call these functions;
nothing else saves a grant or a channel setting. Each one checks that the actor may configure the
channel (``access.Cap.CONFIGURE``; ``actor=None`` is the system, e.g. onboarding or seed data),
runs ``full_clean`` so that the database constraints surface as ``ValidationError`` with their
own messages before an INSERT could fail, and runs in a transaction (which nests inside the
admin's own). See docs/access.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied
from django.db import transaction

from channels_app import access, health
from channels_app.access import Cap, Role
from channels_app.models import AccessGrant, Channel, Team

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    Actor = AbstractBaseUser | None

# What an admin edits on the "edit a channel" page; identity fields come from the provider.
SETTINGS_FIELDS = frozenset(
    {
        "display_name",
        "is_active",
        "auto_assign",
        "auto_resolve_new_after",
        "auto_resolve_pending_after",
        "all_users_enabled",
        "all_users_role",
        "all_teams_enabled",
        "all_teams_role",
    }
)
IDENTITY_FIELDS = frozenset(
    {"kind", "phone_number_id", "waba_id", "display_phone_number", "verified_name"}
)


def _require_configure(actor: Actor, channel: Channel | None = None) -> None:
    """The system (None) may do anything; a user must be an admin (CONFIGURE is admin-only)."""
    if actor is None:
        return
    allowed = access.is_admin(actor) if channel is None else access.can(
        actor, Cap.CONFIGURE, channel
    )
    if not allowed:
        raise PermissionDenied(access.capability_denied_message(Cap.CONFIGURE))


@transaction.atomic
def create_channel(channel: Channel, *, actor: Actor) -> Channel:
    """Save a new channel built in memory (by a form or a caller); returns it, now with a pk.

    Settings left unset keep their model defaults (auto-resolve 30 days, auto-assign on).
    Raises ValidationError (e.g. a display name over 255 characters) and PermissionDenied.
    """
    _require_configure(actor)
    if channel.pk is not None:
        raise ValueError("create_channel() takes an unsaved channel")
    channel.full_clean()
    channel.save()
    return channel


@transaction.atomic
def update_channel_settings(
    channel: Channel, *, actor: Actor, access_token: str | None = None, **changes: Any
) -> Channel:
    """Apply ``changes`` (only the admin-editable settings) and, when given, a new access token.

    ``access_token=None`` keeps the stored token; the token is never echoed back or logged.
    Saves only the fields that were passed. Raises ValidationError and PermissionDenied.
    """
    _require_configure(actor, channel)
    unknown = set(changes) - SETTINGS_FIELDS
    if unknown:
        raise TypeError(f"update_channel_settings() got unknown fields: {sorted(unknown)}")
    for name, value in changes.items():
        setattr(channel, name, value)
    update_fields = set(changes)
    if access_token is not None:
        channel.access_token = access_token
        update_fields.add("access_token")
    channel.full_clean()
    if update_fields:
        channel.save(update_fields=[*sorted(update_fields), "updated_at"])
    if access_token is not None:
        health.token_works(channel.pk, why="a new token was saved")
    return channel


@transaction.atomic
def grant_access(
    channel: Channel,
    *,
    actor: Actor,
    role: Role | int,
    user: AbstractBaseUser | None = None,
    team: Team | None = None,
) -> AccessGrant:
    """Give one user or one team a role on the channel.

    The grant names exactly one of ``user`` and ``team``, and there is at most one grant per
    (channel, user) and per (channel, team): a breach raises ValidationError with the
    constraint's message, never an IntegrityError.
    """
    _require_configure(actor, channel)
    grant = AccessGrant(channel=channel, user=user, team=team, role=role)
    grant.full_clean()
    grant.save()
    return grant


@transaction.atomic
def update_grant(grant: AccessGrant, *, actor: Actor, **changes: Any) -> AccessGrant:
    """Change an existing grant's ``role`` (or who it names: ``user`` / ``team``).

    The same constraints as grant_access apply and surface as ValidationError.
    """
    _require_configure(actor, grant.channel)
    unknown = set(changes) - {"role", "user", "team"}
    if unknown:
        raise TypeError(f"update_grant() got unknown fields: {sorted(unknown)}")
    for name, value in changes.items():
        setattr(grant, name, value)
    grant.full_clean()
    grant.save(update_fields=list(changes))
    return grant


@transaction.atomic
def revoke_grant(grant: AccessGrant, *, actor: Actor) -> None:
    """Delete the grant; the user or team keeps whatever other routes give them."""
    _require_configure(actor, grant.channel)
    grant.delete()


@transaction.atomic
def save_team(team: Team, *, actor: Actor) -> Team:
    """Create or rename a team (validated: names are unique)."""
    _require_configure(actor)
    team.full_clean()
    team.save()
    return team


@transaction.atomic
def set_team_members(team: Team, *, actor: Actor, members: Iterable[AbstractBaseUser]) -> Team:
    """Make ``members`` exactly the team's members (their team grants follow immediately)."""
    _require_configure(actor)
    team.members.set(list(members))
    return team


@transaction.atomic
def set_user_teams(user: AbstractBaseUser, *, actor: Actor, teams: Iterable[Team]) -> None:
    """Make ``teams`` exactly the teams the user belongs to."""
    _require_configure(actor)
    user.desk_teams.set(list(teams))
