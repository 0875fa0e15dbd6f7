"""System checks for the secrets the desk keeps (docs/security.md)."""

from __future__ import annotations

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from channels_app import encryption

KEY_HINT = (
    "Set FIELD_ENCRYPTION_KEYS to one or more Fernet keys, newest first "
    '(python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())").'
)


@checks.register(checks.Tags.security, deploy=True)
def check_field_encryption_keys(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Production must not encrypt the access tokens with a key derived from SECRET_KEY."""
    if settings.DEBUG or encryption.keys_configured():
        return []
    return [
        checks.Error(
            "FIELD_ENCRYPTION_KEYS is not set: the access tokens in the database would be "
            "encrypted with a development key derived from SECRET_KEY.",
            hint=KEY_HINT,
            id="channels_app.E001",
        )
    ]


@checks.register(checks.Tags.security)
def check_field_encryption_keys_valid(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Every configured key must be a Fernet key, or nothing can be encrypted or decrypted."""
    try:
        encryption.encrypt("check")
    except ImproperlyConfigured as error:
        return [checks.Error(str(error), hint=KEY_HINT, id="channels_app.E002")]
    return []
