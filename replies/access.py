"""Who sees and who manages which saved reply, built on channels_app.access.

Personal replies are their owner's; team replies are seen by the team's members; global ones by
everyone with access to some channel. Only owners manage personal replies (on /saved-replies/);
team and global ones are managed by desk admins in the admin. A reply the user cannot see does
not exist for them (404, as for a missing id); one they see but may not change is a 403.
See docs/saved-replies.md.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils.translation import gettext_lazy as _

from channels_app.access import Cap, channels_visible_to, channels_where, is_admin
from channels_app.models import Team
from replies.models import SavedReply

NOT_FOUND = _("No such saved reply.")
NOT_A_REPLIER = _(
    "Saved replies are for agents who can reply to customers, and your role allows replying "
    "on no channel."
)
MANAGED_IN_ADMIN = _("Team and global saved replies are managed by admins in the admin.")


def visibility(user, *, sees_a_channel: bool) -> Q:
    """The filter of the saved replies ``user`` sees. ``sees_a_channel``: whether the caller
    already knows the user has access to some channel (global replies are for them only)."""
    if not user.is_authenticated or not user.is_active:
        return Q(pk__in=[])
    teams = Team.members.through.objects.filter(user_id=user.pk).values("team_id")
    condition = Q(scope=SavedReply.Scope.PERSONAL, owner_id=user.pk) | Q(
        scope=SavedReply.Scope.TEAM, team_id__in=teams
    )
    if sees_a_channel:
        condition |= Q(scope=SavedReply.Scope.GLOBAL)
    return condition


def has_channel_access(user) -> bool:
    """Whether the user has access to any channel (one query, none for admins)."""
    return is_admin(user) or channels_visible_to(user).exists()


def replies_visible_to(user, *, sees_a_channel: bool | None = None) -> QuerySet[SavedReply]:
    """The saved replies ``user`` sees, as one query. Pass ``sees_a_channel=True`` when access to
    a channel is already proven (a conversation was loaded) to save its query."""
    if sees_a_channel is None:
        sees_a_channel = has_channel_access(user)
    return SavedReply.objects.filter(visibility(user, sees_a_channel=sees_a_channel))


def require_replier(user) -> None:
    """PermissionDenied unless the user may reply on at least one channel: saved replies are a
    tool of the reply box, so Viewers and users without any channel have no use for them."""
    if not is_admin(user) and not channels_where(user, Cap.REPLY).exists():
        raise PermissionDenied(NOT_A_REPLIER)


def saved_reply_for(user, pk, *, sees_a_channel: bool | None = None) -> SavedReply:
    """The saved reply with this id if the user sees it, else Http404 (missing or invisible)."""
    try:
        return replies_visible_to(user, sees_a_channel=sees_a_channel).get(pk=int(pk))
    except (ValueError, TypeError, OverflowError, SavedReply.DoesNotExist):
        raise Http404(NOT_FOUND) from None


def own_reply_for(user, pk) -> SavedReply:
    """The user's own personal reply with this id, for editing: Http404 when they cannot see it,
    PermissionDenied when they see it (a team or global reply) but it is not theirs to change."""
    reply = saved_reply_for(user, pk, sees_a_channel=True)
    if not can_manage(user, reply):
        raise PermissionDenied(MANAGED_IN_ADMIN)
    return reply


def can_manage(user, reply: SavedReply) -> bool:
    """Owners manage their personal replies; desk admins manage team and global ones."""
    if reply.scope == SavedReply.Scope.PERSONAL:
        return user.is_authenticated and user.is_active and reply.owner_id == user.pk
    return is_admin(user)
