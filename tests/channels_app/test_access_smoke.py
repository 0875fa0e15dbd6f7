from channels_app import access
from channels_app.access import Cap, Role


def test_cast_roles_resolve_through_every_grant_kind(cast):
    assert access.role_for(cast.admin, cast.channel) == Role.ADMIN
    assert access.role_for(cast.supervisor, cast.channel) == Role.SUPERVISOR
    assert access.role_for(cast.contributor, cast.channel) == Role.CONTRIBUTOR
    assert access.role_for(cast.viewer, cast.channel) == Role.VIEWER
    assert access.role_for(cast.team_contributor, cast.channel) == Role.CONTRIBUTOR
    assert access.role_for(cast.outsider, cast.channel) is None
    assert not access.can(cast.viewer, Cap.REPLY, cast.channel)
    assert list(access.channels_visible_to(cast.outsider)) == []
    assert list(access.channels_visible_to(cast.viewer)) == [cast.channel]
