"""Every query-string path from an admin's model to a secret field (the tests' own walk, written
independently of channels_app.admin_site so that a gap there shows here)."""

from __future__ import annotations

from django.conf import settings

from channels_app.encryption import EncryptedTextField


def _is_secret(field) -> bool:
    if isinstance(field, EncryptedTextField):
        return True
    return field.name == "password" and field.model._meta.label == settings.AUTH_USER_MODEL


def secret_paths(model, *, hops: int) -> list[str]:
    """``access_token``, ``channel__access_token``, ``assignee__password``... up to ``hops``
    relations (forward and reverse) away from ``model``."""
    found: list[str] = []
    frontier: list[tuple[type, str]] = [(model, "")]
    for depth in range(hops + 1):
        following = []
        for current, prefix in frontier:
            for field in current._meta.get_fields(include_hidden=False):
                # A reverse relation's name is its query name, as in a lookup.
                path = f"{prefix}{field.name}"
                if not field.is_relation and _is_secret(field):
                    found.append(path)
                elif field.is_relation and field.related_model and depth < hops:
                    following.append((field.related_model, path + "__"))
        frontier = following
    return sorted(set(found))
