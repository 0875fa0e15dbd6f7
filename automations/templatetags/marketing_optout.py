"""``{% optout_card conversation can_annotate %}``: the conversation page's marketing consent
card (one query), with the agent's opt-in / opt-out form (a note required)."""

from django import template
from django.template.loader import render_to_string

from automations.models import MarketingOptOut

register = template.Library()


@register.simple_tag(takes_context=True)
def optout_card(context, conversation, can_annotate=False) -> str:
    state = MarketingOptOut.objects.filter(contact_id=conversation.contact_id).first()
    return render_to_string(
        "automations/_optout_card.html",
        {"conversation": conversation, "state": state, "can_annotate": can_annotate,
         "opted_out": bool(state and state.opted_out)},
        request=context.get("request"),
    )
