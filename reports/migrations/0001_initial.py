# The reports' pre-aggregates, taken over from the conversations app with their tables
# (conversations 0004 and 0006 created them; conversations 0013 let go of them). Only Django's
# model state changes here: no table is created, renamed or copied.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("channels_app", "0002_template_draft_status"),
        # The tables exist (and the conversations app no longer claims them) from here on.
        ("conversations", "0013_report_tallies_to_reports_app"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="MessageTally",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("hour", models.DateTimeField(verbose_name="hour")),
                        ("author_key", models.IntegerField(default=0)),
                        (
                            "direction",
                            models.CharField(
                                choices=[("in", "From the customer"), ("out", "To the customer")],
                                max_length=3,
                            ),
                        ),
                        ("outside_window", models.BooleanField(default=False)),
                        ("count", models.PositiveIntegerField(default=0)),
                        (
                            "channel",
                            models.ForeignKey(
                                db_index=False,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to="channels_app.channel",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "message tally",
                        "verbose_name_plural": "message tallies",
                        "db_table": "conversations_messagetally",
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("channel", "hour", "author_key", "direction", "outside_window"),
                                name="message_tally_key",
                            )
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="TallyWatermark",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("upto", models.DateTimeField(verbose_name="rolled up to")),
                        ("updated_at", models.DateTimeField(verbose_name="updated")),
                    ],
                    options={
                        "verbose_name": "message tally watermark",
                        "verbose_name_plural": "message tally watermarks",
                        "db_table": "conversations_tallywatermark",
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
