"""``{% optout_card conversation can_annotate %}``: the conversation page's marketing consent
card (one query), with the agent's opt-in / opt-out form (a note required).

An inclusion tag: the card renders with the page's CSRF token and autoescaping, without running
the context processors a second time (render_to_string with the request did, for every page).
"""

from django import template

from automations.models import MarketingOptOut

register = template.Library()


@register.inclusion_tag("automations/_optout_card.html")
def optout_card(conversation, can_annotate=False) -> dict:
    state = MarketingOptOut.objects.filter(contact_id=conversation.contact_id).first()
    return {
        "conversation": conversation,
        "state": state,
        "can_annotate": can_annotate,
        "opted_out": bool(state and state.opted_out),
    }
