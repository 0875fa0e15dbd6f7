"""Access-checked getters for conversations, built on channels_app.access.

Views never call ``.objects.get`` on an id from the request: they ask here. A conversation that
does not exist and one on a channel the user cannot see give the same 404 (nothing leaks); a
visible one the user's role cannot act on gives 403. See docs/access.md.
"""

from __future__ import annotations

from django.http import Http404
from django.utils.translation import gettext_lazy as _

from channels_app.access import Cap, remember_role, require, with_channel_role
from conversations.models import Conversation

NOT_FOUND = _("No such conversation.")


def conversation_for(user, pk, *, needs: Cap = Cap.SEE) -> Conversation:
    """The conversation with this id, with channel, contact and assignee joined.

    Raises Http404 when it is missing or its channel is invisible to ``user`` (the same answer),
    PermissionDenied when the user's role lacks ``needs``. One query: the row comes with the
    user's role on its channel, and the returned ``conversation.channel`` carries it as the
    ``effective_role`` annotation, so later checks cost no query.
    """
    try:
        conversation = with_channel_role(
            Conversation.objects.select_related("channel", "contact", "assignee"), user
        ).get(pk=int(pk))
    except (ValueError, TypeError, OverflowError, Conversation.DoesNotExist):
        raise Http404(NOT_FOUND) from None
    remember_role(user, conversation.channel, conversation.channel_role)
    try:
        require(user, needs, conversation.channel)
    except Http404:
        raise Http404(NOT_FOUND) from None
    return conversation
