"""Who may do what on which channel: the one place that answers it.

The roles, the capabilities and the table between them restate DESIGN.md section 1. Views, the
admin, tasks and commands all ask this module; none re-derives a permission. See docs/access.md.

A user's effective role on a channel is the highest of: their direct grant, the grants of each of
their teams, the channel's All Users role (when on) and its All Teams role (when on and the user is
in at least one team). Admins (superusers, or holders of ``channels_app.administer_channels``) can
do everything on every channel.

Policy for callers: a channel the user cannot see does not exist for them (404, identical to a
missing id, so nothing leaks); a channel they can see but lack the capability on is a 403.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Case, Exists, IntegerField, Max, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce, Greatest
from django.http import Http404
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    from channels_app.models import Channel

    AnyUser = AbstractBaseUser | AnonymousUser

ADMIN_PERMISSION = "channels_app.administer_channels"


class Role(models.IntegerChoices):
    """Channel access roles, ordered: a higher number includes everything below it."""

    VIEWER = 10, _("Viewer")
    CONTRIBUTOR = 20, _("Contributor")
    SUPERVISOR = 30, _("Supervisor")
    # Never granted on a channel; what role_for() answers for admins.
    ADMIN = 100, _("Admin")


class Cap(models.TextChoices):
    SEE = "see", _("See the channel and its conversations")
    TRIAGE = "triage", _("Move a conversation to Pending or Resolved")
    ANNOTATE = "annotate", _("Add tags, notes and topics to a conversation")
    REPLY = "reply", _("Reply to the customer")
    REPORTS = "reports", _("See reports for the channel")
    CONFIGURE = "configure", _("Edit channel settings, teams, access, onboarding")


# DESIGN.md's table is monotonic in the role, so each capability needs only its minimum role.
MINIMUM_ROLE: dict[Cap, Role] = {
    Cap.SEE: Role.VIEWER,
    Cap.TRIAGE: Role.VIEWER,
    Cap.ANNOTATE: Role.VIEWER,
    Cap.REPLY: Role.CONTRIBUTOR,
    Cap.REPORTS: Role.SUPERVISOR,
    Cap.CONFIGURE: Role.ADMIN,
}

GRANTABLE_ROLES = [Role.VIEWER, Role.CONTRIBUTOR, Role.SUPERVISOR]


def is_admin(user: AnyUser) -> bool:
    """Superusers and holders of the channel-admin permission administer every channel."""
    return bool(
        user.is_authenticated
        and user.is_active
        and (user.is_superuser or user.has_perm(ADMIN_PERMISSION))
    )


def role_allows(role: Role | int | None, cap: Cap) -> bool:
    return role is not None and role >= MINIMUM_ROLE[cap]


def _effective_role_expression(user: AnyUser):
    """A SQL expression, on a Channel queryset, of the user's effective role (NULL = no access)."""
    from channels_app.models import AccessGrant, Team

    grants = AccessGrant.objects.filter(channel=OuterRef("pk"))
    direct = grants.filter(user=user).values("role")[:1]
    via_team = (
        grants.filter(team__members=user)
        .values("channel")
        .annotate(best=Max("role"))
        .values("best")[:1]
    )
    in_a_team = Exists(Team.objects.filter(members=user))
    none = Value(None, output_field=IntegerField())
    all_users = Case(When(all_users_enabled=True, then="all_users_role"), default=none)
    all_teams = Case(
        When(Q(all_teams_enabled=True) & in_a_team, then="all_teams_role"), default=none
    )
    # GREATEST ignores NULLs on PostgreSQL but returns NULL on SQLite if any argument is NULL, so
    # every argument is coalesced to 0 and 0 is mapped back to "no access" by the caller.
    zero = Value(0, output_field=IntegerField())
    return Greatest(
        Coalesce(Subquery(direct, output_field=IntegerField()), zero),
        Coalesce(Subquery(via_team, output_field=IntegerField()), zero),
        Coalesce(all_users, zero),
        Coalesce(all_teams, zero),
        output_field=IntegerField(),
    )


def channels_with_role(user: AnyUser):
    """Channels the user can see, each annotated with ``effective_role``; one SQL query.

    Inactive channels are included (their history stays readable); callers that offer only live
    channels filter on ``is_active`` themselves.
    """
    from channels_app.models import Channel

    if not user.is_authenticated or not user.is_active:
        return Channel.objects.none()
    # effective_role_of names whose role effective_role is, so that role_for() never reuses it
    # for another user (a channel loaded for an admin would otherwise carry ADMIN for anyone).
    of_user = Value(user.pk, output_field=IntegerField())
    if is_admin(user):
        return Channel.objects.annotate(
            effective_role=Value(int(Role.ADMIN)), effective_role_of=of_user
        )
    return (
        Channel.objects.annotate(effective_role=_effective_role_expression(user))
        .filter(effective_role__gt=0)
        .annotate(effective_role_of=of_user)
    )


def channels_visible_to(user: AnyUser):
    """The channels this user can see, as a queryset computed in one SQL query."""
    return channels_with_role(user)


def channels_where(user: AnyUser, cap: Cap):
    """The channels on which this user holds ``cap``."""
    qs = channels_with_role(user)
    if is_admin(user):
        return qs
    return qs.filter(effective_role__gte=int(MINIMUM_ROLE[cap]))


def role_for(user: AnyUser, channel: Channel) -> Role | None:
    """The user's effective role on the channel, or None when they have no access at all."""
    if not user.is_authenticated or not user.is_active:
        return None
    if is_admin(user):
        return Role.ADMIN
    # Reuse an annotation made by channels_with_role() for this same user to save a query.
    cached = getattr(channel, "effective_role", None)
    if cached is not None and getattr(channel, "effective_role_of", None) == user.pk:
        return Role(cached) if cached else None
    value = (
        channels_with_role(user).filter(pk=channel.pk).values_list("effective_role", flat=True)
    ).first()
    return Role(value) if value else None


def can(user: AnyUser, cap: Cap, channel: Channel) -> bool:
    return role_allows(role_for(user, channel), cap)


def require(user: AnyUser, cap: Cap, channel: Channel) -> Role:
    """Raise Http404 when the channel is invisible to the user, PermissionDenied when their role
    is below the capability; return the role otherwise."""
    role = role_for(user, channel)
    if role is None:
        raise Http404(_("No such channel."))
    if not role_allows(role, cap):
        raise PermissionDenied(capability_denied_message(cap))
    return role


def capability_denied_message(cap: Cap) -> str:
    messages = {
        Cap.REPLY: _("Your role on this channel does not allow replying to customers."),
        Cap.REPORTS: _("Only Supervisors of this channel can see its reports."),
        Cap.CONFIGURE: _("Only admins can change this channel."),
    }
    return str(messages.get(cap, _("Your role on this channel does not allow this.")))


def channel_for(user: AnyUser, pk: int, *, needs: Cap = Cap.SEE) -> Channel:
    """The channel with this id if the user can see it (else 404) and holds ``needs`` (else 403)."""
    try:
        channel = channels_with_role(user).get(pk=pk)
    except (ValueError, TypeError, channels_with_role(user).model.DoesNotExist):
        raise Http404(_("No such channel.")) from None
    require(user, needs, channel)
    return channel
