"""The API's own changes are audited under the token's name (docs/audit.md)."""

from __future__ import annotations

import pytest

from audit.models import AuditEntry


@pytest.mark.django_db
def test_a_subscription_made_through_the_api_is_audited_under_the_tokens_name(world):
    response = world.api.post("/webhooks", {"url": "https://crm.example.com/desk"})
    assert response.status_code == 201
    row = AuditEntry.objects.get(content_type__model="webhooksubscription")
    assert (row.action, row.source, row.actor_name, row.actor) == (
        "create", "api", "API token: CRM", None
    )
    assert row.changes["secret"] == "changed"
    assert response.json()["secret"] not in str(row.changes)
