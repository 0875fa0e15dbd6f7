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

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import connection, models
from django.db.models import F, IntegerField, Q, Value
from django.db.models.expressions import RawSQL
from django.http import Http404
from django.utils.translation import gettext_lazy as _

from channels_app.models import Channel
from channels_app.roles import GRANTABLE_ROLES, Role  # noqa: F401 - callers ask access for both
from config import db_features

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    AnyUser = AbstractBaseUser | AnonymousUser

ADMIN_PERMISSION = "channels_app.administer_channels"


class Cap(models.TextChoices):
    SEE = "see", _("See the channel and its conversations")
    TRIAGE = "triage", _("Move a conversation to Pending or Resolved")
    ANNOTATE = "annotate", _("Add tags, notes and topics to a conversation")
    REPLY = "reply", _("Reply to the customer")
    ASSIGN = "assign", _("Assign a conversation (to a user who can reply)")
    BE_ASSIGNED = "be_assigned", _("Be assigned / routed a conversation")
    REPORTS = "reports", _("See reports for the channel")
    MONITOR = "monitor", _("Watch the channel's queues and agents live (the monitor)")
    SEE_DELETED = "see_deleted", _("Read messages the customer deleted, while they are kept")
    CONFIGURE = "configure", _("Edit channel settings, teams, access, onboarding")


# DESIGN.md's table is monotonic in the role, so each capability needs only its minimum role.
MINIMUM_ROLE: dict[Cap, Role] = {
    Cap.SEE: Role.VIEWER,
    Cap.TRIAGE: Role.VIEWER,
    Cap.ANNOTATE: Role.VIEWER,
    Cap.REPLY: Role.CONTRIBUTOR,
    Cap.ASSIGN: Role.CONTRIBUTOR,
    # The assignee answers the conversation, so exactly those who can reply can be assigned.
    Cap.BE_ASSIGNED: Role.CONTRIBUTOR,
    Cap.REPORTS: Role.SUPERVISOR,
    Cap.MONITOR: Role.SUPERVISOR,
    Cap.SEE_DELETED: Role.SUPERVISOR,
    Cap.CONFIGURE: Role.ADMIN,
}


_MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
# Backends that only guard logins and answer no permission (django-axes' throttle).
_LOGIN_ONLY_BACKENDS = {"axes.backends.AxesStandaloneBackend"}
# Where is_admin() keeps its answer on the user object (like Django's own _perm_cache).
_ADMIN_CACHE = "_desk_admin_permission"
# Where sees_reports() keeps its answer on the user object (as is_admin() does).
_REPORTS_CACHE = "_desk_sees_reports"


def _holds_admin_permission(user) -> bool:
    """Whether the (active) user holds ADMIN_PERMISSION directly or through a group.

    Cached on the user object for its lifetime, as has_perm() caches: one request, one read.
    With the default backend this is one EXISTS query instead of has_perm's two full loads.
    """
    cached = getattr(user, _ADMIN_CACHE, None)
    if cached is not None:
        return cached
    permission_backends = [
        b for b in settings.AUTHENTICATION_BACKENDS if b not in _LOGIN_ONLY_BACKENDS
    ]
    if hasattr(user, "_perm_cache") or permission_backends != [_MODEL_BACKEND]:
        held = user.has_perm(ADMIN_PERMISSION)  # already loaded, or a backend we cannot inline
    else:
        app_label, codename = ADMIN_PERMISSION.split(".", 1)
        with connection.cursor() as cursor:
            cursor.execute(
                ADMIN_HOLDER_SQL, [user.pk, app_label, codename, user.pk, app_label, codename]
            )
            held = cursor.fetchone() is not None
    setattr(user, _ADMIN_CACHE, held)
    return held


def is_admin(user: AnyUser) -> bool:
    """Superusers and holders of the channel-admin permission administer every channel."""
    return bool(
        user.is_authenticated
        and user.is_active
        and (user.is_superuser or _holds_admin_permission(user))
    )


def role_allows(role: Role | int | None, cap: Cap) -> bool:
    return role is not None and role >= MINIMUM_ROLE[cap]


def _effective_role_expression(user: AnyUser, *, path: str = ""):
    """A SQL expression of the user's effective role (0 = no access), on a Channel queryset or,
    with ``path`` (e.g. ``"channel"``), on a queryset whose rows point at a channel there."""
    return EffectiveRole(F(f"{path}_id" if path else "pk"), user_id=user.pk)


class EffectiveRole(models.Func):
    """The best of a user's four grant sources on the channel whose id is the argument (0 = none).

    Direct grant; the best grant of a team they are in (``ORDER BY role DESC LIMIT 1``: MAX's
    value with a smaller plan); the channel's All Users role; its All Teams role when they are in
    any team. Written as SQL rather than composed from ORM subqueries: the composed expression
    cost ~2.5 ms of Python to build and compile on every page that checks access, for the same
    statement.
    """

    output_field = IntegerField()
    # Every argument is a number, so GREATEST (PostgreSQL) and SQLite's multi-argument MAX agree.
    SQL = """(SELECT {greatest}(
        COALESCE((SELECT g.role FROM channels_app_accessgrant g
                  WHERE g.channel_id = c.id AND g.user_id = %s LIMIT 1), 0),
        COALESCE((SELECT g.role FROM channels_app_accessgrant g
                  WHERE g.channel_id = c.id AND g.team_id IN
                        (SELECT m.team_id FROM channels_app_team_members m WHERE m.user_id = %s)
                  ORDER BY g.role DESC LIMIT 1), 0),
        CASE WHEN c.all_users_enabled THEN c.all_users_role ELSE 0 END,
        CASE WHEN c.all_teams_enabled
                  AND EXISTS (SELECT 1 FROM channels_app_team_members m WHERE m.user_id = %s)
             THEN c.all_teams_role ELSE 0 END)
     FROM channels_app_channel c WHERE c.id = {channel_id})"""

    def __init__(self, channel_id, *, user_id: int):
        super().__init__(channel_id)
        self.user_id = user_id

    def as_sql(self, compiler, connection, **extra_context):
        channel_sql, channel_params = compiler.compile(self.source_expressions[0])
        greatest = db_features.greatest(connection)
        sql = self.SQL.format(greatest=greatest, channel_id=channel_sql)
        return sql, [self.user_id, self.user_id, self.user_id, *channel_params]


def channels_with_role(user: AnyUser):
    """Channels the user can see, each annotated with ``effective_role``; one SQL query.

    Inactive channels are included (their history stays readable); callers that offer only live
    channels filter on ``is_active`` themselves.
    """
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


def with_channel_role(
    queryset,
    user: AnyUser,
    *,
    path: str = "channel",
    name: str = "channel_role",
    select: bool = True,
):
    """``queryset`` (rows with a channel FK at ``path``) annotated with ``name``: the user's
    effective role on each row's channel, 0 when they have none (anonymous and inactive users:
    0 everywhere). Same answer as channels_with_role(), computed for these rows only.
    ``select=False`` only makes ``name`` filterable (an alias), for a filter without a read."""
    if not user.is_authenticated or not user.is_active:
        role = Value(0, output_field=IntegerField())
    elif is_admin(user):
        role = Value(int(Role.ADMIN), output_field=IntegerField())
    else:
        role = _effective_role_expression(user, path=path)
    return queryset.annotate(**{name: role}) if select else queryset.alias(**{name: role})


def remember_role(user: AnyUser, channel: Channel, role: int | None) -> None:
    """Record on ``channel`` the user's role read by with_channel_role(), so that role_for(),
    can() and require() on it cost no query. A role that opens the reports also answers
    sees_reports() (the top bar's link) for the request, without its query."""
    channel.effective_role = role or 0
    channel.effective_role_of = user.pk
    if role_allows(role, Cap.REPORTS):
        setattr(user, _REPORTS_CACHE, True)


def users_with_access(channel: Channel, *, minimum: Role = Role.VIEWER):
    """Active users whose effective role on ``channel`` is at least ``minimum`` (by default:
    who can see it), by every grant source: direct, team, All Users, All Teams, and admins.
    One queryset, no join that multiplies users (no DISTINCT needed). ``users_holding()``
    asks it for a capability.

    The grant sources are one ``UNION ALL`` of plain reads under ``pk IN (...)``, written as SQL:
    as five ORM subqueries the same filter cost ~3 ms of Python to build and compile on every
    conversation page (the assign picker), ten times what PostgreSQL needs to run it.
    """
    users = get_user_model().objects.filter(is_active=True)
    if channel.all_users_enabled and channel.all_users_role >= minimum:
        return users
    app_label, codename = ADMIN_PERMISSION.split(".", 1)
    all_teams = channel.all_teams_enabled and channel.all_teams_role >= minimum
    sql = GRANTEE_IDS_SQL + (ALL_TEAMS_MEMBERS_SQL if all_teams else "")
    level = int(minimum)
    params = [channel.pk, level, channel.pk, level, app_label, codename, app_label, codename]
    # A constant statement; only values travel, as parameters.
    return users.filter(Q(is_superuser=True) | Q(pk__in=RawSQL(sql, params)))  # noqa: S611


# The id of ADMIN_PERMISSION; parameters: its app label and codename.
ADMIN_PERMISSION_ID_SQL = (
    "SELECT p.id FROM auth_permission p JOIN django_content_type ct ON ct.id = p.content_type_id"
    " WHERE ct.app_label = %s AND p.codename = %s"
)
# Users granted a channel (directly, through a team) with at least a role, or holding the
# channel-admin permission (directly, through a group): users_with_access(). Django's own auth
# tables and ours; the parameters are the channel id and the minimum role twice, then the
# permission's app label and codename twice.
GRANTEE_IDS_SQL = """
    SELECT user_id FROM channels_app_accessgrant
    WHERE channel_id = %s AND user_id IS NOT NULL AND role >= %s
    UNION ALL
    SELECT m.user_id FROM channels_app_team_members m
    JOIN channels_app_accessgrant g ON g.team_id = m.team_id
    WHERE g.channel_id = %s AND g.role >= %s
    UNION ALL
    SELECT up.user_id FROM auth_user_user_permissions up
    WHERE up.permission_id IN (ADMIN_PERMISSION)
    UNION ALL
    SELECT ug.user_id FROM auth_user_groups ug
    JOIN auth_group_permissions gp ON gp.group_id = ug.group_id
    WHERE gp.permission_id IN (ADMIN_PERMISSION)
""".replace("ADMIN_PERMISSION", ADMIN_PERMISSION_ID_SQL)
ALL_TEAMS_MEMBERS_SQL = " UNION ALL SELECT user_id FROM channels_app_team_members"
# Whether one user holds the channel-admin permission, directly or through a group (a row or
# none). The parameters: the user id, app label, codename, then the three again. As SQL for the
# reason of EffectiveRole: the ORM version cost ~1 ms of Python a page, the query ~0.1 ms.
ADMIN_HOLDER_SQL = """
    SELECT 1 FROM auth_user_user_permissions up
    WHERE up.user_id = %s AND up.permission_id IN (ADMIN_PERMISSION)
    UNION ALL
    SELECT 1 FROM auth_user_groups ug
    JOIN auth_group_permissions gp ON gp.group_id = ug.group_id
    WHERE ug.user_id = %s AND gp.permission_id IN (ADMIN_PERMISSION)
    LIMIT 1
""".replace("ADMIN_PERMISSION", ADMIN_PERMISSION_ID_SQL)


def users_holding(cap: Cap, channel: Channel):
    """Active users who hold ``cap`` on ``channel`` (e.g. the assign picker: Cap.BE_ASSIGNED)."""
    return users_with_access(channel, minimum=MINIMUM_ROLE[cap])


def channels_visible_to(user: AnyUser):
    """The channels this user can see, as a queryset computed in one SQL query."""
    return channels_with_role(user)


def channels_where(user: AnyUser, cap: Cap):
    """The channels on which this user holds ``cap``."""
    qs = channels_with_role(user)
    if is_admin(user):
        return qs
    return qs.filter(effective_role__gte=int(MINIMUM_ROLE[cap]))


def sees_reports(user: AnyUser) -> bool:
    """Whether the user may open the reports page at all: an admin, or a Supervisor of some
    channel (what the top bar's "Reports" link follows). At most one EXISTS query, remembered on
    the user object for its lifetime (one request)."""
    if not user.is_authenticated or not user.is_active:
        return False
    if is_admin(user):
        return True
    cached = getattr(user, _REPORTS_CACHE, None)
    if cached is None:
        cached = channels_where(user, Cap.REPORTS).exists()
        setattr(user, _REPORTS_CACHE, cached)
    return cached


def remember_sees_reports(user: AnyUser, roles) -> None:
    """Record sees_reports() from the user's effective roles on every channel they can see
    (a page that has read them all anyway), so that the top bar costs no query."""
    setattr(user, _REPORTS_CACHE, any(role_allows(r, Cap.REPORTS) for r in roles))


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
        Cap.ASSIGN: _(
            "Your role on this channel does not allow assigning conversations: a Contributor "
            "role or higher is needed."
        ),
        Cap.BE_ASSIGNED: _(
            "This user cannot reply on this channel, so conversations cannot be assigned to them."
        ),
        Cap.REPORTS: _("Only Supervisors of this channel can see its reports."),
        Cap.MONITOR: _("Only Supervisors of a channel can watch its queues and agents."),
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
