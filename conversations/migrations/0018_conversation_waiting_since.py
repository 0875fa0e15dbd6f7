"""Conversation.waiting_since: when the customer's oldest message not yet answered by the desk
arrived (None when the desk wrote last). Backfilled from the messages in one statement: an answer
is an outbound message by an agent or from the Business app (the system's own messages, author
and via empty, answer nobody), the same rule the services keep from now on."""

from django.conf import settings
from django.db import migrations, models

ANSWERS = """
    SELECT MAX(o.created_at) FROM conversations_message o
    WHERE o.conversation_id = conversations_conversation.id AND o.direction = 'out'
      AND NOT (o.author_id IS NULL AND o.via = '')
"""
BACKFILL = """
UPDATE conversations_conversation SET waiting_since = (
    SELECT MIN(m.created_at) FROM conversations_message m
    WHERE m.conversation_id = conversations_conversation.id AND m.direction = 'in'
      AND (m.created_at > (ANSWERS) OR (ANSWERS) IS NULL)
)
""".replace("ANSWERS", ANSWERS.strip())


def backfill(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(BACKFILL)


class Migration(migrations.Migration):
    dependencies = [
        ("channels_app", "0006_channel_health"),
        ("conversations", "0017_partition_messages_events"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="waiting_since",
            field=models.DateTimeField(
                blank=True, null=True, verbose_name="customer waiting since"
            ),
        ),
        # Before the indexes: the UPDATE does not maintain them row by row.
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(
                fields=["channel", "status", "waiting_since", "id"], name="conv_inbox_waiting"
            ),
        ),
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(
                fields=["status", "waiting_since", "id"], name="conv_inbox_waiting_all"
            ),
        ),
    ]
