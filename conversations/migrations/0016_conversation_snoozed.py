# Issue 17: the Snoozed status, its due time and the wake sweep's index; a snoozed conversation
# is still the contact's one open conversation on the channel.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0015_conversation_priority"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="conversation",
            name="one_open_conversation_per_contact",
        ),
        migrations.AddField(
            model_name="conversation",
            name="snoozed_until",
            field=models.DateTimeField(blank=True, null=True, verbose_name="snoozed until"),
        ),
        migrations.AlterField(
            model_name="conversation",
            name="status",
            field=models.CharField(
                choices=[
                    ("new", "New"),
                    ("pending", "Pending"),
                    ("snoozed", "Snoozed"),
                    ("resolved", "Resolved"),
                ],
                default="new",
                max_length=16,
                verbose_name="status",
            ),
        ),
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(
                condition=models.Q(("status", "snoozed")),
                fields=["snoozed_until"],
                name="conv_snoozed_due",
            ),
        ),
        migrations.AddConstraint(
            model_name="conversation",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status__in", ["new", "pending", "snoozed"])),
                fields=("channel", "contact"),
                name="one_open_conversation_per_contact",
            ),
        ),
    ]
