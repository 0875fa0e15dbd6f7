"""Webhook URLs on private addresses are refused (api.egress, docs/security.md): at creation
through the API and the admin, and at delivery (resolved again, the address pinned); redirects
are never followed."""

from __future__ import annotations

import ipaddress

import pytest
from django.urls import reverse
from django.utils import timezone

from api import egress, webhooks
from api.models import WebhookDelivery, WebhookSubscription
from tests.api.test_webhooks import Receiver
from tests.factories import AdminUserFactory

pytestmark = pytest.mark.django_db

PRIVATE = [
    "https://127.0.0.1/hook",
    "https://10.1.2.3/hook",
    "https://172.16.0.5/hook",
    "https://192.168.1.10:8443/hook",
    "https://169.254.169.254/latest/meta-data/",
    "https://[::1]/hook",
    "https://[fd00::1]/hook",
    "https://[fe80::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://224.0.0.1/hook",
    "https://0.0.0.0/hook",
    "https://100.64.0.1/hook",
    "https://localhost/hook",
]


@pytest.fixture
def strict(world, settings):
    settings.API_WEBHOOK_ALLOW_PRIVATE = False
    return world


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.mark.parametrize("url", PRIVATE)
def test_a_private_webhook_url_is_refused_by_the_api(strict, url):
    response = strict.api.post("/webhooks", {"url": url})
    assert response.status_code == 422, response.content
    assert "public addresses" in response.json()["detail"]
    assert not WebhookSubscription.objects.exists()


def test_public_addresses_are_accepted(strict):
    assert strict.api.post("/webhooks", {"url": "https://93.184.215.14/hook"}).status_code == 201
    assert strict.api.post("/webhooks", {"url": "https://[2606:4700::1111]/h"}).status_code == 201


def test_the_rule_uses_is_global_and_excludes_multicast():
    assert egress.is_public(ipaddress.ip_address("8.8.8.8"))
    assert not egress.is_public(ipaddress.ip_address("239.1.2.3"))
    assert not egress.is_public(ipaddress.ip_address("ff02::1"))
    assert not egress.is_public(ipaddress.ip_address("::ffff:10.0.0.1"))


def test_the_admin_refuses_a_private_url_with_a_form_error(strict, client):
    subscription = WebhookSubscription.objects.create(
        token=strict.token, url="https://93.184.215.14/hook", secret="whsec_x"
    )
    client.force_login(AdminUserFactory())
    url = reverse("admin:api_apitoken_change", args=[strict.token.pk])
    data = {
        "name": strict.token.name,
        "channels": [strict.channel.pk],
        "webhooks-TOTAL_FORMS": "1",
        "webhooks-INITIAL_FORMS": "1",
        "webhooks-MIN_NUM_FORMS": "0",
        "webhooks-MAX_NUM_FORMS": "1000",
        "webhooks-0-id": str(subscription.pk),
        "webhooks-0-token": str(strict.token.pk),
        "webhooks-0-url": "https://169.254.169.254/latest/meta-data/",
        "webhooks-0-is_active": "on",
    }
    response = client.post(url, data)
    assert response.status_code == 200  # the form again, with the error
    assert "public addresses" in response.content.decode()
    subscription.refresh_from_db()
    assert subscription.url == "https://93.184.215.14/hook"

    data["webhooks-0-url"] = "https://93.184.215.15/hook"
    assert client.post(url, data).status_code == 302
    subscription.refresh_from_db()
    assert subscription.url == "https://93.184.215.15/hook"


def _one_delivery(world):
    now = timezone.now()
    webhooks.enqueue([(world.channel.pk, "message.failed", {"message": {"id": 1}})], now=now)
    return now


def test_a_name_resolving_to_loopback_is_refused_at_delivery(world, settings, receiver):
    # Subscribed while allowed (or a name that resolved publicly then: DNS rebinding) …
    url = receiver.url.replace("127.0.0.1", "localhost")
    assert world.api.post("/webhooks", {"url": url}).status_code == 201
    settings.API_WEBHOOK_ALLOW_PRIVATE = False
    now = _one_delivery(world)

    assert webhooks.deliver_due(now=now) == {"delivered": 0, "retrying": 0, "failed": 1}
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.due_at, delivery.last_status) == ("failed", None, None)
    assert delivery.last_error.startswith("refused:")
    assert "public addresses" in delivery.last_error
    assert receiver.requests == []  # nothing was sent


def test_delivery_connects_to_the_resolved_address_with_the_names_host(world, receiver):
    url = receiver.url.replace("127.0.0.1", "localhost")
    assert world.api.post("/webhooks", {"url": url}).status_code == 201
    now = _one_delivery(world)
    assert webhooks.deliver_due(now=now)["delivered"] == 1
    headers = {k.lower(): v for k, v in receiver.requests[0]["headers"].items()}
    assert headers["host"] == f"localhost:{receiver.server.server_address[1]}"


def test_a_redirect_is_not_followed(world, receiver):
    target = Receiver()
    try:
        assert world.api.post("/webhooks", {"url": receiver.url}).status_code == 201
        receiver.answers = [302]
        receiver.location = target.url
        now = _one_delivery(world)
        assert webhooks.deliver_due(now=now)["retrying"] == 1
        delivery = WebhookDelivery.objects.get()
        assert delivery.last_status == 302
        assert "redirect not followed" in delivery.last_error
        assert len(receiver.requests) == 1 and target.requests == []
    finally:
        target.close()


def test_pinning_keeps_sni_and_host_for_a_name(settings):
    settings.API_WEBHOOK_ALLOW_PRIVATE = True
    destination = egress.resolve("https://localhost:8443/x?y=1")
    assert destination.url in ("https://127.0.0.1:8443/x?y=1", "https://[::1]:8443/x?y=1")
    assert destination.host_header == "localhost:8443"
    assert destination.sni_hostname == "localhost"
    with_auth = egress.resolve("https://user:pw@127.0.0.1/x")
    assert with_auth.url == "https://user:pw@127.0.0.1:443/x"
    assert with_auth.host_header == "127.0.0.1"
