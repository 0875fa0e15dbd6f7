"""The media sweep's partial index: media neither downloaded nor failed (conversations.media)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0010_message_retry"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                condition=models.Q(
                    models.Q(
                        ("direction", "in"), models.Q(("via", ""), _negated=True), _connector="OR"
                    ),
                    ("payload__has_key", "media_id"),
                    ("type__in", ["image", "video", "audio", "document", "sticker"]),
                    models.Q(("payload__has_key", "file"), _negated=True),
                    models.Q(("payload__has_key", "download_error"), _negated=True),
                ),
                fields=["created_at"],
                name="msg_media_pending",
            ),
        ),
    ]
