"""Load demo data for `make run`: an admin, agents in each role, teams and two WhatsApp channels.

Idempotent: running it again changes nothing that is already there.
"""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from channels_app.access import Role
from channels_app.models import AccessGrant, Channel, MessageTemplate, Team
from channels_app.transports import InboundMessage
from conversations import services
from conversations.models import Contact, Conversation, Message, Tag, Topic
from replies.demo import seed_demo_saved_replies
from reports import tallies

DEMO_PASSWORD = "demo-desk-2026"  # noqa: S105 - printed on purpose, demo only

AGENTS = [
    # username, first name, role on the support line (via direct grant unless a team is named)
    ("sofia", "Sofia", Role.SUPERVISOR, None),
    ("carlos", "Carlos", Role.CONTRIBUTOR, None),
    ("vera", "Vera", Role.VIEWER, None),
    ("nina", "Nina", Role.CONTRIBUTOR, "Night shift"),
]


class Command(BaseCommand):
    help = "Create demo users, teams and WhatsApp channels (idempotent) and print the logins."

    @transaction.atomic
    def handle(self, *args, **options):
        User = get_user_model()
        admin, created = User.objects.get_or_create(
            username="admin", defaults={"is_staff": True, "is_superuser": True, "first_name": "Ada"}
        )
        if created:
            admin.set_password(DEMO_PASSWORD)
            admin.save(update_fields=["password"])

        support, _ = Channel.objects.get_or_create(
            phone_number_id="109876543210987",
            defaults={
                "display_name": "Acme Support (WhatsApp)",
                "waba_id": "104455667788990",
                "display_phone_number": "+1 555-010-0234",
                "verified_name": "Acme Outdoor Supply",
                "access_token": "demo-access-token",
            },
        )
        Channel.objects.get_or_create(
            phone_number_id="109876543210988",
            defaults={
                "display_name": "Acme Sales (WhatsApp)",
                "waba_id": "104455667788990",
                "display_phone_number": "+1 555-010-0235",
                "verified_name": "Acme Outdoor Supply",
                "access_token": "demo-access-token",
                "auto_assign": False,
                "all_teams_enabled": True,
                "all_teams_role": Role.VIEWER,
            },
        )
        for username, first_name, role, team_name in AGENTS:
            user, created = User.objects.get_or_create(
                username=username, defaults={"first_name": first_name}
            )
            if created:
                user.set_password(DEMO_PASSWORD)
                user.save(update_fields=["password"])
            if team_name:
                team, _ = Team.objects.get_or_create(name=team_name)
                team.members.add(user)
                AccessGrant.objects.get_or_create(
                    channel=support, team=team, defaults={"role": role}
                )
            else:
                AccessGrant.objects.get_or_create(
                    channel=support, user=user, defaults={"role": role}
                )

        seed_demo_templates(support)
        seed_demo_saved_replies(admin=admin, channel=support)
        seed_demo_conversations(support, Channel.objects.get(phone_number_id="109876543210988"))
        self.stdout.write(self.style.SUCCESS("Demo data ready."))
        self.stdout.write(f"  admin:  http://127.0.0.1:8000/admin/  admin / {DEMO_PASSWORD}")
        self.stdout.write(f"  agents: http://127.0.0.1:8000/inbox/  sofia (Supervisor), "
                          f"carlos (Contributor), vera (Viewer), nina (team) / {DEMO_PASSWORD}")


# WhatsApp integration: approved templates, so an agent can write after the 24-hour window.
# `whatsapp_emulator --seed-from-db` loads them into the emulator as approved too.
DEMO_TEMPLATES = [
    ("order_shipped", "Hi {{1}}, your order {{2}} is on its way.", [["Dana", "4471"]]),
    ("follow_up", "Hi {{1}}, do you still need help with your request?", [["Dana"]]),
]


def seed_demo_templates(channel) -> None:
    """Approved demo templates on the channel and every channel sharing its business account."""

    for target in Channel.objects.filter(waba_id=channel.waba_id):
        for name, text, example in DEMO_TEMPLATES:
            MessageTemplate.objects.get_or_create(
                channel=target,
                name=name,
                language="en_US",
                defaults={
                    "category": MessageTemplate.Category.UTILITY,
                    "status": MessageTemplate.Status.APPROVED,
                    "components": [
                        {"type": "BODY", "text": text, "example": {"body_text": example}}
                    ],
                },
            )


# Inbox: a few conversations in each queue on both demo channels, including one whose 24-hour
# window is closed (so the page offers templates) and one contact with an earlier, resolved one.
DEMO_TAGS = [("vip", "#7c3aed"), ("warranty", "#b45309"), ("urgent", "#b91c1c")]
DEMO_TOPICS = ["Shipping", "Returns", "Product question"]
DEMO_CONVERSATIONS = [
    # channel key, wa_id, name, hours since the customer wrote, their messages, final status,
    # assignee, our replies as (text, delivery state[, failure reason]), tags, topics, note
    ("support", "4915112345001", "Dana Kim", 0.2,
     ["Hi! My tent arrived with a torn seam.", "Order 4471, photo attached soon."],
     "new", None, [], ["warranty"], ["Returns"], ""),
    ("support", "4917612345002", "Lukas Weber", 1.5,
     ["Do you ship to Austria?"], "new", None, [], [], ["Shipping"], ""),
    ("support", "447700900003", "Priya Shah", 5,
     ["Can I exchange the boots for a larger size?"], "pending", "carlos",
     [("Of course! Please send them back with the enclosed label.", "read"),
      ("Let us know once they are on their way.", "delivered")],
     ["vip"], ["Returns"], "Regular customer; offer free return shipping."),
    ("support", "33612345004", "Marta Rossi", 30,
     ["Is the 3-person tent waterproof?"], "new", "sofia",
     [("Yes, 3000 mm hydrostatic head.", "failed", "Message failed to send because more than "
       "24 hours have passed since the customer last replied to this number.")],
     [], ["Product question"], "Window closed: use the follow_up template."),
    ("support", "4915112345005", "Tom Becker", 48,
     ["Thanks, all sorted!"], "resolved", "sofia", [("Glad to help!", "read")], [], [], ""),
    ("sales", "4930123456006", "Ahmed Nasser", 0.5,
     ["Do you offer group discounts for scout troops?"], "new", None, [], ["urgent"], [], ""),
    ("sales", "4930123456007", "Julia Braun", 8,
     ["Please send me the catalogue."], "pending", None,
     [("Here it is: acme.example/catalogue", "delivered")], [], ["Product question"], ""),
]


def seed_demo_conversations(support, sales) -> None:
    """Demo conversations through the inbox services (idempotent: a contact already in the
    desk is left alone). Replies are stored with a final delivery state and never sent."""
    User = get_user_model()
    admin = User.objects.get(username="admin")
    tags = {
        name: Tag.objects.get_or_create(name=name, defaults={"color": color})[0]
        for name, color in DEMO_TAGS
    }
    topics = {name: Topic.objects.get_or_create(name=name)[0] for name in DEMO_TOPICS}
    channels = {"support": support, "sales": sales}
    now = timezone.now()

    # Lukas has an earlier, resolved conversation: the page lists it as history.
    if not Contact.objects.filter(wa_id="4917612345002").exists():
        old, _created = services.receive_inbound(
            channel=support,
            message=InboundMessage(
                wa_id="4917612345002",
                profile_name="Lukas Weber",
                provider_message_id="wamid.demo.lukas.old",
                sent_at=now - timedelta(days=20),
                type="text",
                body="Where can I find the warranty card?",
            ),
            now=now - timedelta(days=20),
        )
        services.move_conversation(
            old.conversation, to="resolved", actor=admin, now=now - timedelta(days=19)
        )

    for (key, wa_id, name, hours, inbound, status, assignee, replies, tag_names, topic_names,
         note) in DEMO_CONVERSATIONS:
        channel = channels[key]
        if Conversation.objects.filter(
            channel=channel, contact__wa_id=wa_id, status__in=Conversation.OPEN
        ).exists() or (status == "resolved" and Contact.objects.filter(wa_id=wa_id).exists()):
            continue
        sent = now - timedelta(hours=hours)
        message = None
        for index, body in enumerate(inbound):
            at = sent + timedelta(seconds=index * 40)
            message, _created = services.receive_inbound(
                channel=channel,
                message=InboundMessage(
                    wa_id=wa_id,
                    profile_name=name,
                    provider_message_id=f"wamid.demo.{wa_id}.{index}",
                    sent_at=at,
                    type="text",
                    body=body,
                ),
                now=at,
            )
        conversation = message.conversation
        agent = User.objects.get(username=assignee) if assignee else None
        if agent is not None:
            services.assign(conversation, assignee=agent, actor=admin, now=sent)
        for index, (body, delivery, *reason) in enumerate(replies):
            at = sent + timedelta(minutes=5 + index)
            # Demo history, not a send: stored with its final state so nothing is dispatched.
            Message.objects.create(
                conversation=conversation, channel=channel, direction=Message.Direction.OUTBOUND,
                body=body, delivery=delivery, failure_reason=reason[0] if reason else "",
                # The demo's failures are the window's: Meta's code, read in the agent's language.
                failure_code=131047 if delivery == "failed" else None,
                author=agent or admin, created_at=at, sent_at=at,
                provider_message_id=f"wamid.demo.out.{wa_id}.{index}",
            )
            if delivery == "failed":
                continue  # a failed reply never reached the customer: no first response
            Conversation.objects.filter(pk=conversation.pk, first_response_at__isnull=True).update(
                first_response_at=at, first_responder=agent or admin
            )
        for tag_name in tag_names:
            services.add_tag(conversation, tag=tags[tag_name], actor=admin, now=sent)
        for topic_name in topic_names:
            services.add_topic(conversation, topic=topics[topic_name], actor=admin, now=sent)
        if note:
            services.add_note(conversation, body=note, actor=agent or admin, now=sent)
        if status != "new":
            services.move_conversation(
                conversation, to=status, actor=agent or admin,
                now=sent + timedelta(minutes=10),
            )
    # The demo history lies in the past, behind the reports' roll-up watermark: count it.
    tallies.rebuild(now=now)
