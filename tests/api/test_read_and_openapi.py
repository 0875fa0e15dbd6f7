"""Reading conversations through the API, and the OpenAPI document: valid, served, and every
endpoint in it answers as it documents."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from tests.api.conftest import send_body
from tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db


def test_a_conversations_status_and_messages_page_by_page(world):
    conversation = ConversationFactory(channel=world.channel, status="pending")
    ids = [
        MessageFactory(conversation=conversation, channel=world.channel, body=f"m{n}").pk
        for n in range(5)
    ]
    status = world.api.get(f"/conversations/{conversation.pk}")
    assert status.status_code == 200
    assert status.json()["status"] == "pending"
    assert status.json()["contact"]["id"] == conversation.contact_id

    page = world.api.get(f"/conversations/{conversation.pk}/messages", {"limit": 2}).json()
    assert [m["id"] for m in page["messages"]] == ids[3:]
    older = world.api.get(
        f"/conversations/{conversation.pk}/messages",
        {"limit": 2, "before_id": page["next_before_id"]},
    ).json()
    assert [m["id"] for m in older["messages"]] == ids[1:3]
    last = world.api.get(
        f"/conversations/{conversation.pk}/messages",
        {"limit": 2, "before_id": older["next_before_id"]},
    ).json()
    assert [m["id"] for m in last["messages"]] == ids[:1]
    assert last["next_before_id"] is None


def test_a_conversation_of_another_channel_is_404(world):
    elsewhere = ConversationFactory(channel=world.other)
    response = world.api.get(f"/conversations/{elsewhere.pk}")
    assert response.status_code == 404
    assert "this token's channels" in response.json()["detail"]
    assert world.api.get(f"/conversations/{elsewhere.pk}/messages").status_code == 404
    assert world.api.get("/conversations/abc").status_code == 422
    assert world.api.get(f"/conversations/{elsewhere.pk}/messages", {"limit": 0}).status_code == 422


def test_channels_and_templates_of_the_scope(world):
    assert world.api.get("/channels").json() == [
        {"id": world.channel.pk, "name": "Acme Support",
         "phone": world.channel.display_phone_number},
    ]  # fmt: skip
    names = [t["name"] for t in world.api.get(f"/channels/{world.channel.pk}/templates").json()]
    assert names == ["order_update", "spring_sale"]  # the pending one is not sendable
    assert world.api.get(f"/channels/{world.other.pk}/templates").status_code == 404


# --- the OpenAPI document ------------------------------------------------------------------------
def document(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_the_openapi_document_is_served_without_a_token_and_validates(client):
    spec = document(client)
    validate(spec)
    assert spec["info"]["title"] == "Messaging desk API"
    assert spec["components"]["securitySchemes"]["TokenAuth"]["scheme"] == "bearer"


def test_every_endpoint_in_the_document_answers_as_documented(world, client):
    spec = document(client)
    conversation = ConversationFactory(channel=world.channel)
    MessageFactory(conversation=conversation, channel=world.channel)
    subscription = world.api.post("/webhooks", {"url": "https://crm.example.com/x"}).json()
    values = {
        "conversation_id": conversation.pk,
        "channel_id": world.channel.pk,
        "subscription_id": subscription["id"],
    }
    bodies = {
        "/api/v1/messages/template": send_body(world),
        "/api/v1/webhooks": {"url": "https://crm.example.com/y", "events": []},
    }
    called = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            url = path.format(**values).removeprefix("/api/v1")
            if method == "get":
                response = world.api.get(url)
            elif method == "post":
                response = world.api.post(url, bodies[path])
            elif method == "delete":
                response = world.api.delete(url)
            else:  # pragma: no cover
                raise AssertionError(f"untested method {method} {path}")
            documented = {int(code) for code in operation["responses"]}
            assert response.status_code in documented, (method, path, response.content)
            assert response.status_code < 300, (method, path, response.content)
            # Without a token every endpoint refuses, with a reason.
            anonymous = getattr(client, method)(path.format(**values))
            assert anonymous.status_code == 401, (method, path)
            called.append((method, path))
    assert len(called) == 8
