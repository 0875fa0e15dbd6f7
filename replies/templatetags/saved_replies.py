"""The saved-reply pieces of the conversation page, so that its view and template stay as they
are: the template offer of a closed window (one query, only when the channel has sendable
templates)."""

from django import template
from django.urls import reverse

from replies import queries

register = template.Library()


@register.inclusion_tag("replies/_template_replies.html", takes_context=True)
def saved_reply_templates(context):
    """Saved replies the agent sees that are linked to one of the page's ``templates`` (the
    channel's sendable ones), their template parameters filled for this conversation."""
    conversation = context["conversation"]
    return {
        "saved_replies": queries.template_replies(
            context["request"].user, conversation, list(context.get("templates") or [])
        ),
        "send_template_url": reverse("conversations:send_template", args=[conversation.pk]),
        "csrf_token": context.get("csrf_token"),
    }
