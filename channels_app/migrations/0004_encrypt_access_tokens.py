"""The channels' access tokens encrypted at rest (channels_app/encryption.py, docs/security.md).

The column stays a text column; existing clear-text tokens are encrypted with the newest key of
FIELD_ENCRYPTION_KEYS. Reversible: going back writes them in clear text again.
"""

import channels_app.encryption
from django.db import migrations


def encrypt_tokens(apps, schema_editor):
    channels_app.encryption.reencrypt_column(
        "channels_app_channel",
        "access_token",
        label="channels_app.Channel.access_token",
        using=schema_editor.connection,
    )


def decrypt_tokens(apps, schema_editor):
    channels_app.encryption.decrypt_column(
        "channels_app_channel", "access_token", using=schema_editor.connection
    )


class Migration(migrations.Migration):
    dependencies = [
        ("channels_app", "0003_template_status_event_time"),
    ]

    operations = [
        migrations.AlterField(
            model_name="channel",
            name="access_token",
            field=channels_app.encryption.EncryptedTextField(
                blank=True, verbose_name="access token"
            ),
        ),
        migrations.RunPython(encrypt_tokens, decrypt_tokens, elidable=False),
    ]
