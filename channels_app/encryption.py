"""Secrets kept in the database are encrypted at rest (docs/security.md, "Secret fields").

``EncryptedTextField`` stores a Fernet token (AES-128-CBC + HMAC-SHA256, from ``cryptography``)
instead of the clear text; the ORM reads and writes clear text. The keys come from
``FIELD_ENCRYPTION_KEYS`` (comma-separated, newest first) through ``MultiFernet``: the first key
encrypts, every key decrypts. Rotating a key: put the new key first, run
``manage.py reencrypt_secrets``, then remove the old key.

Without ``FIELD_ENCRYPTION_KEYS`` a development key is derived from ``SECRET_KEY`` so that
``make run`` and the test suite work on a bare machine; ``check --deploy`` refuses that outside
DEBUG (channels_app.E001), and so does the web process (``config/wsgi.py``).

An empty secret stays an empty string, so ``filter(access_token="")`` keeps meaning "no token".
A value that no key decrypts raises ``UndecryptableSecret``, naming the field, never the value.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, models, transaction

# Every Fernet token starts with its version byte 0x80, which base64 spells "gAAAAA".
TOKEN_PREFIX = "gAAAAA"  # noqa: S105 (a format marker, not a secret)
_DEV_KEY_LABEL = b"messaging-desk field encryption, development only:"


class UndecryptableSecret(ImproperlyConfigured):
    """A stored secret no key of FIELD_ENCRYPTION_KEYS decrypts (a key was dropped too early)."""


def development_key(secret_key: str) -> str:
    """The key used when FIELD_ENCRYPTION_KEYS is unset: derived from SECRET_KEY."""
    digest = hashlib.sha256(_DEV_KEY_LABEL + secret_key.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()


def keys_configured() -> bool:
    return bool(settings.FIELD_ENCRYPTION_KEYS)


def require_production_keys() -> None:
    """Refuse to serve with the development key when DEBUG is off (called by config/wsgi.py)."""
    if not settings.DEBUG and not keys_configured():
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS is not set and DEBUG is off: refusing to start with the "
            "development key. See docs/security.md."
        )


def current_keys() -> tuple[str, ...]:
    """The keys in use, newest first."""
    return tuple(settings.FIELD_ENCRYPTION_KEYS) or (development_key(settings.SECRET_KEY),)


@functools.lru_cache(maxsize=8)
def _fernets(keys: tuple[str, ...]) -> tuple[MultiFernet, Fernet]:
    try:
        each = [Fernet(key.encode()) for key in keys]
    except ValueError as error:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS: every key must be a Fernet key (32 url-safe base64-encoded "
            "bytes)."
        ) from error
    return MultiFernet(each), each[0]


def encrypt(text: str) -> str:
    """A Fernet token of ``text`` under the newest key; "" stays ""."""
    if not text:
        return text
    multi, _newest = _fernets(current_keys())
    return multi.encrypt(text.encode()).decode()


def decrypt(stored: str, *, what: str = "a secret") -> str:
    """The clear text of a stored token; "" stays "". UndecryptableSecret if no key fits."""
    if not stored:
        return stored
    multi, _newest = _fernets(current_keys())
    try:
        return multi.decrypt(stored.encode()).decode()
    except InvalidToken:
        raise UndecryptableSecret(
            f"{what} cannot be decrypted with FIELD_ENCRYPTION_KEYS: put the key it was "
            "encrypted with back into the list (after the newest), then run "
            "`manage.py reencrypt_secrets`."
        ) from None


def under_newest_key(stored: str) -> bool:
    _multi, newest = _fernets(current_keys())
    try:
        newest.decrypt(stored.encode())
    except InvalidToken:
        return False
    return True


class EncryptedTextField(models.TextField):
    """A TextField whose column holds a Fernet token; Python code sees the clear text.

    Lookups on it compare ciphertexts (each encryption is different), so they match nothing; the
    admin refuses them outright (channels_app.admin_site.SecretLookupsRefused).
    """

    secret = True

    def from_db_value(self, value, expression, connection):
        if value is None:
            return value
        return decrypt(value, what=f"{self.model._meta.label}.{self.name}")

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None:
            return value
        return encrypt(value)


# --- re-encryption -------------------------------------------------------------------------------
@dataclass
class ColumnReport:
    label: str
    rows: int = 0  # rows with a non-empty secret
    current: int = 0  # already under the newest key
    rotated: int = 0  # under an older key: re-encrypted with the newest
    in_clear: int = 0  # clear text (written before encryption, or by raw SQL): encrypted now
    undecryptable: int = 0  # a Fernet token no key decrypts: left as it is


def secret_columns() -> list[tuple[type[models.Model], models.Field]]:
    """Every EncryptedTextField of every installed model."""
    return [
        (model, field)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, EncryptedTextField)
    ]


def reencrypt_column(
    table: str, column: str, *, label: str, pk: str = "id", dry_run: bool = False, using=None
) -> ColumnReport:
    """Re-encrypt one column's non-empty values under the newest key, in one transaction.

    Reads the stored strings with plain SQL (not through the field, which would refuse clear text
    and undecryptable tokens) and locks the rows it rewrites. Clear text is encrypted: that is how
    the data migration encrypts rows written before this field existed. Undecryptable tokens are
    counted and left untouched. ``dry_run`` counts and writes nothing.
    """
    conn = using or connection
    qn = conn.ops.quote_name
    report = ColumnReport(label=label)
    multi, _newest = _fernets(current_keys())
    with transaction.atomic(using=conn.alias), conn.cursor() as cursor:
        lock = " FOR UPDATE" if conn.features.has_select_for_update else ""
        cursor.execute(
            f"SELECT {qn(pk)}, {qn(column)} FROM {qn(table)} "  # noqa: S608 (quoted names)
            f"WHERE {qn(column)} <> '' ORDER BY {qn(pk)}{lock}"
        )
        updates = []
        for row_id, stored in cursor.fetchall():
            report.rows += 1
            if under_newest_key(stored):
                report.current += 1
                continue
            try:
                clear = multi.decrypt(stored.encode()).decode()
                report.rotated += 1
            except InvalidToken:
                if stored.startswith(TOKEN_PREFIX):
                    report.undecryptable += 1
                    continue
                clear = stored
                report.in_clear += 1
            updates.append((multi.encrypt(clear.encode()).decode(), row_id))
        if updates and not dry_run:
            cursor.executemany(
                f"UPDATE {qn(table)} SET {qn(column)} = %s WHERE {qn(pk)} = %s",  # noqa: S608
                updates,
            )
    return report


def decrypt_column(table: str, column: str, *, using=None) -> int:
    """Write a column back in clear text (the data migration's reverse); returns rows changed."""
    conn = using or connection
    qn = conn.ops.quote_name
    multi, _newest = _fernets(current_keys())
    with transaction.atomic(using=conn.alias), conn.cursor() as cursor:
        cursor.execute(
            f"SELECT id, {qn(column)} FROM {qn(table)} WHERE {qn(column)} <> ''"  # noqa: S608
        )
        updates = []
        for pk, stored in cursor.fetchall():
            try:
                updates.append((multi.decrypt(stored.encode()).decode(), pk))
            except InvalidToken:
                if stored.startswith(TOKEN_PREFIX):
                    raise UndecryptableSecret(
                        f"{table}.{column} row {pk} cannot be decrypted with FIELD_ENCRYPTION_KEYS"
                    ) from None
                # otherwise it is clear text already
        cursor.executemany(
            f"UPDATE {qn(table)} SET {qn(column)} = %s WHERE id = %s",  # noqa: S608
            updates,
        )
    return len(updates)


def reencrypt_all(*, dry_run: bool = False) -> list[ColumnReport]:
    """``reencrypt_column`` for every secret column of the project."""
    return [
        reencrypt_column(
            model._meta.db_table,
            field.column,
            label=f"{model._meta.label}.{field.name}",
            pk=model._meta.pk.column,
            dry_run=dry_run,
        )
        for model, field in secret_columns()
    ]
