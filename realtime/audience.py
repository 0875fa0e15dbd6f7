"""Who receives a push: the groups a socket joins, computed through channels_app.access.

A push goes to one group: everyone who may see a channel (``ch.<id>``), its Supervisors
(``sup.<id>``), one user (``user.<id>``), or the viewers of one open conversation page
(``conv.<id>``, for viewers and typing). A socket joins the groups of the channels the access
module says its user sees, and joins them again whenever an access change is announced on
``ACCESS_GROUP`` (realtime.receivers).
"""

from __future__ import annotations

from channels_app.access import Role, channels_with_role

ACCESS_GROUP = "access"


def channel_group(channel_id: int) -> str:
    return f"ch.{int(channel_id)}"


def supervisors_group(channel_id: int) -> str:
    return f"sup.{int(channel_id)}"


def user_group(user_id: int) -> str:
    return f"user.{int(user_id)}"


def conversation_group(conversation_id: int) -> str:
    return f"conv.{int(conversation_id)}"


def channel_roles(user) -> dict[int, int]:
    """The user's effective role on every channel they may see (one query; none when inactive)."""
    return dict(channels_with_role(user).values_list("pk", "effective_role"))


def groups_for(user, roles: dict[int, int] | None = None) -> set[str]:
    """The groups a socket of ``user`` belongs to: their own, the access announcements, and per
    visible channel its group (plus its Supervisors' group where they are one)."""
    if not user.is_authenticated or not user.is_active:
        return set()
    roles = channel_roles(user) if roles is None else roles
    groups = {user_group(user.pk), ACCESS_GROUP}
    for channel_id, role in roles.items():
        groups.add(channel_group(channel_id))
        if role >= Role.SUPERVISOR:
            groups.add(supervisors_group(channel_id))
    return groups
