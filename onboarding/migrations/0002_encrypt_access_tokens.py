"""The onboardings' operator tokens encrypted at rest (channels_app/encryption.py).

Existing clear-text tokens are encrypted with the newest key of FIELD_ENCRYPTION_KEYS.
Reversible: going back writes them in clear text again.
"""

import channels_app.encryption
from django.db import migrations


def encrypt_tokens(apps, schema_editor):
    channels_app.encryption.reencrypt_column(
        "onboarding_onboarding",
        "access_token",
        label="onboarding.Onboarding.access_token",
        using=schema_editor.connection,
    )


def decrypt_tokens(apps, schema_editor):
    channels_app.encryption.decrypt_column(
        "onboarding_onboarding", "access_token", using=schema_editor.connection
    )


class Migration(migrations.Migration):
    dependencies = [
        ("onboarding", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="onboarding",
            name="access_token",
            field=channels_app.encryption.EncryptedTextField(
                blank=True, verbose_name="access token"
            ),
        ),
        migrations.RunPython(encrypt_tokens, decrypt_tokens, elidable=False),
    ]
