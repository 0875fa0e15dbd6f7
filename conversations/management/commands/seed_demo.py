"""Load demo data for `make run`: an admin, agents in each role, teams and two WhatsApp channels.

Idempotent: running it again changes nothing that is already there.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from channels_app.access import Role
from channels_app.models import AccessGrant, Channel, Team

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
    from channels_app.models import MessageTemplate

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
