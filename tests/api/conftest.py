"""Fixtures of the API tests: a channel with templates, a token scoped to it, a client."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.test import Client

from api import tokens
from channels_app.models import MessageTemplate
from tests.factories import ChannelFactory, TemplateFactory


class ApiClient:
    """Django's test client speaking JSON with a bearer token."""

    def __init__(self, raw_token: str | None):
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {raw_token}"} if raw_token else {}

    def get(self, path, params=None, **headers):
        return self.client.get(f"/api/v1{path}", params or {}, headers={**self.headers, **headers})

    def post(self, path, data=None, *, raw: str | None = None, **headers):
        return self.client.post(
            f"/api/v1{path}",
            raw if raw is not None else (data or {}),
            content_type="application/json",
            headers={**self.headers, **headers},
        )

    def delete(self, path, **headers):
        return self.client.delete(f"/api/v1{path}", headers={**self.headers, **headers})


@pytest.fixture
def world(db, settings):
    settings.API_WEBHOOK_REQUIRE_HTTPS = False  # the tests' receivers are plain local HTTP
    settings.API_WEBHOOK_ALLOW_PRIVATE = True  # … on 127.0.0.1 (tests/api/test_egress.py: off)
    channel = ChannelFactory(display_name="Acme Support")
    other = ChannelFactory(display_name="Other Brand")
    utility = TemplateFactory(
        channel=channel, name="order_update", language="en_US",
        category=MessageTemplate.Category.UTILITY,
    )  # fmt: skip
    marketing = TemplateFactory(
        channel=channel, name="spring_sale", language="en_US",
        category=MessageTemplate.Category.MARKETING,
        components=[{"type": "BODY", "text": "Spring sale: {{1}} off!"}],
    )  # fmt: skip
    pending = TemplateFactory(
        channel=channel, name="not_yet", status=MessageTemplate.Status.PENDING
    )
    TemplateFactory(channel=other, name="order_update", language="en_US")
    token, raw = tokens.create_token(name="CRM", channels=[channel], actor=None)
    other_token, other_raw = tokens.create_token(name="Shop", channels=[other], actor=None)
    return SimpleNamespace(
        channel=channel, other=other, utility=utility, marketing=marketing, pending=pending,
        token=token, raw=raw, other_token=other_token, other_raw=other_raw,
        api=ApiClient(raw), other_api=ApiClient(other_raw),
    )  # fmt: skip


def send_body(world, **overrides):
    body = {
        "channel_id": world.channel.pk,
        "to": "+49 151 12345678",
        "template": "order_update",
        "params": ["Ada", "A-1001"],
    }
    body.update(overrides)
    return body
