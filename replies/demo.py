"""Demo saved replies for ``manage.py seed_demo`` (English and German, every scope, one linked
to the demo template ``order_shipped``). Idempotent: a shortcut already there is left alone."""

from __future__ import annotations

from django.contrib.auth import get_user_model

from channels_app.models import MessageTemplate, Team
from replies import services
from replies.models import SavedReply

# scope, shortcut, title, language, body
DEMO_REPLIES = [
    ("global", "thanks", "Thanks for writing", "en",
     "Thanks for your message, {{contact.first_name|there}}! {{agent.first_name|Our team}} from "
     "{{channel.name}} here. How can I help?"),
    ("global", "danke", "Danke für Ihre Nachricht", "de",
     "Hallo {{contact.first_name|zusammen}}, vielen Dank für Ihre Nachricht! Hier ist "
     "{{agent.first_name|das Team}} von {{channel.name}}. Wie kann ich helfen?"),
    ("global", "returns", "How to return an item", "en",
     "Hi {{contact.first_name|there}}, returns are free within 30 days: pack the item, stick the "
     "enclosed label on the parcel and drop it at any post office. We refund within 5 days."),
    ("global", "ruecksendung", "Rücksendung", "de",
     "Hallo {{contact.first_name|zusammen}}, Rücksendungen sind 30 Tage lang kostenlos: Artikel "
     "einpacken, beiliegendes Etikett aufkleben und bei der Post abgeben. Die Erstattung folgt "
     "innerhalb von 5 Tagen."),
    ("global", "shipped", "Order shipped (template)", "en",
     "Hi {{contact.first_name|there}}, your order is on its way."),
]
TEAM_REPLIES = [
    ("Night shift", "night", "Night shift hand-over", "",
     "Thanks, {{contact.first_name|there}}. The night shift has noted your request; the full "
     "team at {{channel.name}} is back at 8:00 and will follow up."),
]
PERSONAL_REPLIES = [
    ("carlos", "sig", "My signature", "", "Best regards,\n{{agent.name}} · {{channel.name}}"),
]


def seed_demo_saved_replies(*, admin, channel) -> int:
    """Create the demo saved replies that are missing, through the service; returns how many."""
    created = 0
    users = get_user_model().objects
    shipped = MessageTemplate.objects.filter(channel=channel, name="order_shipped").first()
    rows = [(scope, None, None, *rest) for scope, *rest in DEMO_REPLIES]
    rows += [("team", Team.objects.filter(name=t).first(), None, *r) for t, *r in TEAM_REPLIES]
    rows += [("personal", None, users.filter(username=u).first(), *r) for u, *r in PERSONAL_REPLIES]
    for scope, team, owner, shortcut, title, language, body in rows:
        if (scope == "team" and team is None) or (scope == "personal" and owner is None):
            continue
        if SavedReply.objects.filter(
            scope=scope, team=team, owner=owner, shortcut=shortcut
        ).exists():
            continue
        reply = SavedReply(
            scope=scope, team=team, owner=owner, shortcut=shortcut, title=title,
            language=language, body=body,
        )  # fmt: skip
        if shortcut == "shipped" and shipped is not None:
            reply.template = shipped
            reply.template_params = "{{contact.first_name|there}}"
        services.save_saved_reply(reply, actor=owner or admin)
        created += 1
    return created
