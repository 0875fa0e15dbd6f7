"""Template tags of the live pages: the socket's settings and the inbox rows' answer state."""

from __future__ import annotations

from django import template
from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext as _

from conversations import queries
from realtime import answers
from realtime.forms import BulkForm

register = template.Library()


@register.simple_tag(takes_context=True)
def live_config(context, page: str) -> dict:
    """What static/realtime/*.js need: the user, the heartbeat, the page's texts, the URLs."""
    request = context["request"]
    conversation = context.get("conversation") if page == "conversation" else None
    return {
        "page": page,
        "conversation_id": conversation.pk if conversation is not None else None,
        "user_id": request.user.pk,
        "heartbeat": settings.REALTIME_HEARTBEAT_S,
        "urls": {"read": reverse("realtime:read", args=[0]), "bulk": reverse("realtime:bulk")},
        "strings": {
            "new_conversation": _("New conversation"),
            "new_message": _("New message from the customer"),
            "colleague_replied": _(
                "A colleague replied after you opened this conversation. Send your reply anyway?"
            ),
            "viewing": _("%(name)s is viewing"),
            "typing": _("%(name)s is typing…"),
            "notifications_blocked": _("The browser blocks notifications for this site."),
            "selected": _("%(n)s selected"),
        },
    }


@register.simple_tag(takes_context=True)
def answer_state(context, rows) -> dict:
    """{conversation id: answers.State} for the inbox page's rows (one query), for the user."""
    return answers.states(rows, context["request"].user)


@register.simple_tag
def bulk_choices(tags=None) -> dict:
    """The bulk bar's actions and tags (those the inbox's filter read already, when given)."""
    return {"actions": BulkForm.ACTIONS, "tags": queries.all_tags() if tags is None else tags}
