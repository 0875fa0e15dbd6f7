"""The capability table of DESIGN.md, driven as data through every route to a role."""

import pytest
from django.contrib.auth.models import AnonymousUser, Group, Permission
from django.core.exceptions import PermissionDenied
from django.http import Http404

from channels_app import access
from channels_app.access import Cap, Role
from tests.factories import AdminUserFactory, ChannelFactory, GrantFactory, TeamFactory, UserFactory

# DESIGN.md section 1, copied cell by cell (not derived from access.MINIMUM_ROLE, so that a
# change to the module's table shows up here as a failure).
#            capability      Viewer Contributor Supervisor Admin
DESIGN_TABLE = {
    Cap.SEE: "✓ ✓ ✓ ✓",
    Cap.TRIAGE: "✓ ✓ ✓ ✓",
    Cap.ANNOTATE: "✓ ✓ ✓ ✓",
    Cap.REPLY: "✗ ✓ ✓ ✓",
    Cap.ASSIGN: "✗ ✓ ✓ ✓",
    Cap.BE_ASSIGNED: "✗ ✓ ✓ ✓",
    Cap.REPORTS: "✗ ✗ ✓ ✓",
    # Issue 17: the live monitor of queues and agents.
    Cap.MONITOR: "✗ ✗ ✓ ✓",
    # Issue 21: a deleted message's text stays readable for Supervisors until it is erased.
    Cap.SEE_DELETED: "✗ ✗ ✓ ✓",
    Cap.CONFIGURE: "✗ ✗ ✗ ✓",
}
COLUMNS = [Role.VIEWER, Role.CONTRIBUTOR, Role.SUPERVISOR, Role.ADMIN]


def expected(role: Role, cap: Cap) -> bool:
    return DESIGN_TABLE[cap].split()[COLUMNS.index(role)] == "✓"


def test_the_module_table_matches_design_md():
    for cap in Cap:
        for role in COLUMNS:
            assert access.role_allows(role, cap) is expected(role, cap), (cap, role)


# --- the four routes to a role ----------------------------------------------------------------
def via_direct_grant(channel, user, role):
    GrantFactory(channel=channel, user=user, role=role)


def via_team_grant(channel, user, role):
    team = TeamFactory(members=[user])
    GrantFactory(channel=channel, user=None, team=team, role=role)


def via_all_users(channel, user, role):
    channel.all_users_enabled, channel.all_users_role = True, role
    channel.save()


def via_all_teams(channel, user, role):
    TeamFactory(members=[user])  # any team, even one without a grant anywhere
    channel.all_teams_enabled, channel.all_teams_role = True, role
    channel.save()


ROUTES = {
    "direct grant": via_direct_grant,
    "team grant": via_team_grant,
    "All Users": via_all_users,
    "All Teams": via_all_teams,
}
GRANTABLE = [Role.VIEWER, Role.CONTRIBUTOR, Role.SUPERVISOR]


@pytest.mark.django_db
@pytest.mark.parametrize("cap", list(Cap), ids=str)
@pytest.mark.parametrize("role", GRANTABLE, ids=lambda r: r.label)
@pytest.mark.parametrize("route", list(ROUTES))
def test_role_through_each_route_grants_exactly_the_table(route, role, cap):
    channel = ChannelFactory()
    ChannelFactory()  # a bystander channel that must stay invisible
    user = UserFactory()
    ROUTES[route](channel, user, role)

    assert access.role_for(user, channel) == role
    assert access.can(user, cap, channel) is expected(role, cap)
    assert list(access.channels_visible_to(user)) == [channel]
    assert (channel in access.channels_where(user, cap)) is expected(role, cap)
    if expected(role, cap):
        assert access.require(user, cap, channel) == role
        assert access.channel_for(user, channel.pk, needs=cap) == channel
    else:
        with pytest.raises(PermissionDenied):
            access.require(user, cap, channel)
        with pytest.raises(PermissionDenied):
            access.channel_for(user, channel.pk, needs=cap)


@pytest.fixture
def channel_admin(db):
    """A non-superuser who holds the channel-admin permission."""
    user = UserFactory(username="pat_permission_admin")
    user.user_permissions.add(Permission.objects.get(codename="administer_channels"))
    # A fresh instance: has_perm caches the permissions it saw first.
    return type(user).objects.get(pk=user.pk)


@pytest.mark.django_db
@pytest.mark.parametrize("cap", list(Cap), ids=str)
@pytest.mark.parametrize("who", ["superuser", "permission holder"])
def test_admins_can_do_everything_on_every_channel(who, cap, channel_admin):
    user = AdminUserFactory() if who == "superuser" else channel_admin
    granted = ChannelFactory()
    ungranted = ChannelFactory()
    GrantFactory(channel=granted, user=user, role=Role.VIEWER)  # a grant does not lower it

    for channel in (granted, ungranted):
        assert access.is_admin(user)
        assert access.role_for(user, channel) == Role.ADMIN
        assert access.can(user, cap, channel)
        assert access.require(user, cap, channel) == Role.ADMIN
    assert set(access.channels_visible_to(user)) == {granted, ungranted}
    assert set(access.channels_where(user, cap)) == {granted, ungranted}


@pytest.mark.django_db
@pytest.mark.parametrize("cap", list(Cap), ids=str)
def test_user_without_any_grant_has_no_role_and_sees_nothing(cap):
    channel = ChannelFactory()
    GrantFactory(channel=channel, role=Role.SUPERVISOR)  # somebody else's
    TeamFactory(members=[UserFactory()])
    outsider = UserFactory()

    assert access.role_for(outsider, channel) is None
    assert access.can(outsider, cap, channel) is False
    assert channel not in access.channels_visible_to(outsider)
    assert not access.channels_where(outsider, cap).exists()
    # Invisible is a 404, whatever the capability asked for.
    with pytest.raises(Http404):
        access.require(outsider, cap, channel)
    with pytest.raises(Http404):
        access.channel_for(outsider, channel.pk, needs=cap)


def test_user_in_two_teams_gets_the_higher_team_role(db):
    channel = ChannelFactory()
    user = UserFactory()
    GrantFactory(channel=channel, user=None, team=TeamFactory(members=[user]), role=Role.VIEWER)
    GrantFactory(
        channel=channel, user=None, team=TeamFactory(members=[user]), role=Role.SUPERVISOR
    )
    GrantFactory(
        channel=channel, user=None, team=TeamFactory(members=[user]), role=Role.CONTRIBUTOR
    )

    assert access.role_for(user, channel) == Role.SUPERVISOR
    assert access.can(user, Cap.REPORTS, channel)
    assert list(access.channels_visible_to(user)) == [channel]  # once, not once per team


@pytest.mark.parametrize(
    ("direct", "team", "all_users", "all_teams", "effective"),
    [
        (Role.VIEWER, Role.SUPERVISOR, None, None, Role.SUPERVISOR),
        (Role.SUPERVISOR, Role.VIEWER, None, None, Role.SUPERVISOR),
        (Role.VIEWER, None, Role.CONTRIBUTOR, None, Role.CONTRIBUTOR),
        (Role.CONTRIBUTOR, None, Role.VIEWER, None, Role.CONTRIBUTOR),
        (None, Role.VIEWER, None, Role.SUPERVISOR, Role.SUPERVISOR),
        (Role.VIEWER, Role.CONTRIBUTOR, Role.VIEWER, Role.SUPERVISOR, Role.SUPERVISOR),
    ],
)
def test_effective_role_is_the_highest_of_every_route(
    db, direct, team, all_users, all_teams, effective
):
    channel = ChannelFactory(
        all_users_enabled=all_users is not None,
        all_users_role=all_users or Role.VIEWER,
        all_teams_enabled=all_teams is not None,
        all_teams_role=all_teams or Role.VIEWER,
    )
    user = UserFactory()
    crew = TeamFactory(members=[user])
    if direct:
        GrantFactory(channel=channel, user=user, role=direct)
    if team:
        GrantFactory(channel=channel, user=None, team=crew, role=team)

    assert access.role_for(user, channel) == effective
    assert access.channels_visible_to(user).get().effective_role == effective


def test_all_teams_does_not_reach_a_user_in_no_team(db):
    channel = ChannelFactory(all_teams_enabled=True, all_teams_role=Role.SUPERVISOR)
    loner = UserFactory()
    member = UserFactory()
    TeamFactory(members=[member])

    assert access.role_for(loner, channel) is None
    assert channel not in access.channels_visible_to(loner)
    assert access.role_for(member, channel) == Role.SUPERVISOR


def test_switched_off_all_users_and_all_teams_grant_nothing(db):
    channel = ChannelFactory(
        all_users_enabled=False, all_users_role=Role.SUPERVISOR,
        all_teams_enabled=False, all_teams_role=Role.SUPERVISOR,
    )
    member = UserFactory()
    TeamFactory(members=[member])

    assert access.role_for(member, channel) is None
    assert access.role_for(UserFactory(), channel) is None


@pytest.mark.parametrize("who", ["granted agent", "superuser", "permission holder"])
def test_inactive_users_have_no_access(db, who, channel_admin):
    channel = ChannelFactory(all_users_enabled=True, all_users_role=Role.SUPERVISOR)
    if who == "granted agent":
        user = UserFactory()
        GrantFactory(channel=channel, user=user, role=Role.SUPERVISOR)
    else:
        user = AdminUserFactory() if who == "superuser" else channel_admin
    user.is_active = False
    user.save()

    assert not access.is_admin(user)
    assert access.role_for(user, channel) is None
    assert not access.can(user, Cap.SEE, channel)
    assert list(access.channels_visible_to(user)) == []
    with pytest.raises(Http404):
        access.channel_for(user, channel.pk)


def test_anonymous_user_has_no_access(db):
    channel = ChannelFactory(all_users_enabled=True)
    anonymous = AnonymousUser()

    assert access.role_for(anonymous, channel) is None
    assert list(access.channels_visible_to(anonymous)) == []
    with pytest.raises(Http404):
        access.require(anonymous, Cap.SEE, channel)


def test_require_is_404_when_invisible_and_403_when_the_role_is_too_low(cast):
    with pytest.raises(Http404):
        access.require(cast.outsider, Cap.SEE, cast.channel)
    with pytest.raises(PermissionDenied) as denied:
        access.require(cast.viewer, Cap.REPLY, cast.channel)
    assert str(denied.value) == access.capability_denied_message(Cap.REPLY)
    with pytest.raises(PermissionDenied):
        access.require(cast.contributor, Cap.REPORTS, cast.channel)
    assert access.require(cast.supervisor, Cap.REPORTS, cast.channel) == Role.SUPERVISOR


@pytest.mark.parametrize("garbage", ["abc", "", None, "1 OR 1=1", 10**30, -1, 3.5, [1]])
def test_channel_for_with_a_garbage_id_is_404(cast, garbage):
    with pytest.raises(Http404):
        access.channel_for(cast.admin, garbage)


def test_channel_for_a_missing_and_an_invisible_channel_look_the_same(cast):
    with pytest.raises(Http404) as missing:
        access.channel_for(cast.outsider, cast.channel.pk + 1000)
    with pytest.raises(Http404) as invisible:
        access.channel_for(cast.outsider, cast.channel.pk)
    assert str(missing.value) == str(invisible.value)


def test_cast_personas_hold_their_roles(cast):
    assert access.role_for(cast.admin, cast.channel) == Role.ADMIN
    assert access.role_for(cast.supervisor, cast.channel) == Role.SUPERVISOR
    assert access.role_for(cast.contributor, cast.channel) == Role.CONTRIBUTOR
    assert access.role_for(cast.viewer, cast.channel) == Role.VIEWER
    assert access.role_for(cast.team_contributor, cast.channel) == Role.CONTRIBUTOR
    assert access.role_for(cast.outsider, cast.channel) is None
    assert list(access.channels_visible_to(cast.viewer)) == [cast.channel]


def test_a_role_annotated_for_one_user_is_never_reused_for_another(cast):
    # The admin's changelist loads channels annotated with the admin's role (ADMIN); asking
    # about an agent with that same object must not hand the agent the admin's role.
    loaded_by_admin = access.channels_visible_to(cast.admin).get(pk=cast.channel.pk)
    loaded_by_viewer = access.channels_visible_to(cast.viewer).get(pk=cast.channel.pk)

    assert access.role_for(cast.viewer, loaded_by_admin) == Role.VIEWER
    assert not access.can(cast.viewer, Cap.CONFIGURE, loaded_by_admin)
    assert access.role_for(cast.outsider, loaded_by_viewer) is None
    assert access.role_for(cast.supervisor, loaded_by_viewer) == Role.SUPERVISOR


def test_role_for_reuses_the_annotation_of_the_same_user(cast, django_assert_num_queries):
    channel = access.channels_visible_to(cast.viewer).get(pk=cast.channel.pk)
    with django_assert_num_queries(0):
        assert access.role_for(cast.viewer, channel) == Role.VIEWER


# --- one query, whatever the data ---------------------------------------------------------------
def grow(n: int, user) -> None:
    """More channels, teams (some with the user) and grants of every kind."""
    for i in range(n):
        channel = ChannelFactory(all_teams_enabled=i % 3 == 0, all_users_enabled=i % 5 == 0)
        team = TeamFactory(members=[user, UserFactory()] if i % 2 else [UserFactory()])
        GrantFactory(channel=channel, user=None, team=team, role=Role.SUPERVISOR)
        GrantFactory(channel=channel, user=UserFactory(), role=Role.VIEWER)
        if i % 4 == 0:
            GrantFactory(channel=channel, user=user, role=Role.CONTRIBUTOR)


def test_channels_visible_to_is_one_query_whatever_the_data(cast, django_assert_num_queries):
    user = type(cast.viewer).objects.get(pk=cast.viewer.pk)
    # is_admin() reads the user's permissions once (two queries) and caches them on the user
    # object, as request.user does for a whole request; what is pinned is the channel query.
    access.is_admin(user)
    sizes = []
    for n in (0, 5, 30):
        grow(n, user)
        with django_assert_num_queries(1):
            visible = list(access.channels_visible_to(user))
        with django_assert_num_queries(1):
            role_for_channel = access.role_for(user, cast.channel)
        assert role_for_channel == Role.VIEWER
        assert all(channel.effective_role >= Role.VIEWER for channel in visible)
        sizes.append(len(visible))
    assert sizes[0] < sizes[1] < sizes[2]


@pytest.mark.django_db
def test_users_with_access_are_exactly_those_role_for_lets_see_the_channel(cast):
    """The "who" side of the access module agrees with its "what" side for every persona."""
    from django.contrib.auth import get_user_model

    admin_permission = Permission.objects.get(codename="administer_channels")
    channel_admin = UserFactory(username="cleo_channel_admin")
    channel_admin.user_permissions.add(admin_permission)
    admins = Group.objects.create(name="Channel admins")
    admins.permissions.add(admin_permission)
    UserFactory(username="gus_group_admin").groups.add(admins)
    UserFactory(username="ina_inactive", is_active=False)
    TeamFactory(name="Day shift", members=[UserFactory(username="tia_team_only")])
    all_teams = ChannelFactory(display_name="All teams", all_teams_enabled=True)
    for channel in (cast.channel, cast.other_channel, all_teams):
        listed = set(access.users_with_access(channel))
        for user in get_user_model().objects.all():
            user = get_user_model().objects.get(pk=user.pk)  # no cached permissions
            assert (user in listed) == (access.role_for(user, channel) is not None), (
                user.username,
                channel.display_name,
            )


@pytest.mark.django_db
@pytest.mark.parametrize("cap", list(Cap), ids=str)
@pytest.mark.parametrize("role", GRANTABLE, ids=lambda r: r.label)
@pytest.mark.parametrize("route", list(ROUTES))
def test_users_holding_a_capability_through_each_route(route, role, cap):
    """The assign picker's question (who holds Cap.BE_ASSIGNED?) answered per route and role,
    the same as can() answers it for the user."""
    channel = ChannelFactory()
    user, bystander = UserFactory(), UserFactory()
    ROUTES[route](channel, user, role)

    holders = set(access.users_holding(cap, channel))
    assert (user in holders) is expected(role, cap) is access.can(user, cap, channel)
    # All Users reaches everyone; every other route reaches this user only.
    assert (bystander in holders) is (route == "All Users" and expected(role, cap))


@pytest.mark.django_db
def test_assignable_users_are_exactly_those_who_can_reply(cast):
    from django.contrib.auth import get_user_model

    TeamFactory(name="Day shift", members=[UserFactory(username="tia_team_only")])
    viewers_everywhere = ChannelFactory(
        display_name="All users view", all_users_enabled=True, all_users_role=Role.VIEWER
    )
    team_viewers = ChannelFactory(
        display_name="Teams view", all_teams_enabled=True, all_teams_role=Role.VIEWER
    )
    GrantFactory(channel=team_viewers, user=cast.contributor, role=Role.CONTRIBUTOR)
    for channel in (cast.channel, cast.other_channel, viewers_everywhere, team_viewers):
        holders = set(access.users_holding(Cap.BE_ASSIGNED, channel))
        for user in get_user_model().objects.all():
            user = get_user_model().objects.get(pk=user.pk)
            assert (user in holders) == access.can(user, Cap.REPLY, channel), (
                user.username,
                channel.display_name,
            )
    names = {u.username for u in access.users_holding(Cap.BE_ASSIGNED, cast.channel)}
    assert names == {"ada_admin", "sam_supervisor", "carla_contributor", "tom_team"}
