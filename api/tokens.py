"""Integration tokens: created once (the secret shown a single time), stored as a hash, revoked.

Admins create and revoke them in the admin (api/admin.py), which calls these functions; the
API's authentication calls ``authenticate``. See docs/api.md.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import timedelta

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from api.models import ApiToken
from channels_app import access
from channels_app.models import Channel

TOKEN_PREFIX = "dsk_"  # noqa: S105 (marks the desk's tokens, so secret scanners can find leaks)
PREFIX_LENGTH = 12
# last_used_at is written at most this often per token (not on every request).
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _require_admin(actor) -> None:
    if actor is not None and not access.is_admin(actor):
        raise PermissionDenied


@transaction.atomic
def create_token(
    *, name: str, channels: Iterable[Channel], actor
) -> tuple[ApiToken, str]:
    """A new token for ``channels``; returns it and its secret, which is never readable again."""
    _require_admin(actor)
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name.strip(),
        prefix=raw[:PREFIX_LENGTH],
        token_hash=hash_token(raw),
        created_by=actor,
    )
    token.full_clean(exclude=["channels"])
    token.save()
    token.channels.set(list(channels))
    return token, raw


@transaction.atomic
def set_token_channels(token: ApiToken, *, channels: Iterable[Channel], actor) -> None:
    _require_admin(actor)
    token.channels.set(list(channels))


@transaction.atomic
def rename_token(token: ApiToken, *, name: str, actor) -> None:
    _require_admin(actor)
    token.name = name.strip()
    token.full_clean(exclude=["channels"])
    token.save(update_fields=["name"])


@transaction.atomic
def revoke_token(token: ApiToken, *, actor) -> bool:
    """Stop the token at once; False when it was revoked already."""
    _require_admin(actor)
    if token.revoked_at is not None:
        return False
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    return True


def authenticate(raw: str | None) -> ApiToken | None:
    """The active token with this secret, or None (unknown, malformed or revoked)."""
    if not raw or not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    token = ApiToken.objects.filter(token_hash=hash_token(raw), revoked_at__isnull=True).first()
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        # A bookkeeping column, not a change: an UPDATE the audit log does not see.
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
