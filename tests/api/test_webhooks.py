"""Outgoing webhooks: subscriptions through the API, events from the conversations' signals,
signed deliveries to a real local HTTP server, retried with backoff after a 500."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from api import webhooks
from api.models import WebhookDelivery, WebhookSubscription
from channels_app.transports import InboundMessage
from channels_app.whatsapp.errors import TransportError
from conversations import services, signals
from conversations.models import Event, Message
from conversations.services import outbound
from tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db

PORTS = range(8350, 8400)  # this suite's port range on the shared machine


class Receiver:
    """An integrator's endpoint: answers the queued status codes in turn (then 200) and keeps
    every request it got (headers and raw body)."""

    def __init__(self):
        self.answers: list[int] = []
        self.location: str | None = None  # sent as Location when set (a redirect)
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        for port in PORTS:
            try:
                self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
                break
            except OSError:
                continue
        else:  # pragma: no cover
            pytest.skip("no free port in 8350-8399")
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/desk"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def subscribe(world, url, events=()):
    response = world.api.post("/webhooks", {"url": url, "events": list(events)})
    assert response.status_code == 201, response.content
    return response.json()


# --- subscriptions -------------------------------------------------------------------------------
def test_a_subscription_shows_its_secret_once(world):
    created = subscribe(world, "https://crm.example.com/desk", ["conversation.resolved"])
    assert created["secret"].startswith("whsec_")
    listed = world.api.get("/webhooks").json()
    assert listed == [{k: v for k, v in created.items() if k != "secret"}]
    assert "secret" not in json.dumps(listed)
    assert world.other_api.get("/webhooks").json() == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"url": "ftp://example.com/x"}, "URL"),
        ({"url": "not a url"}, "URL"),
        ({"url": "https://example.com", "events": ["conversation.exploded"]}, "unknown events"),
    ],
)
def test_a_bad_subscription_is_a_422_with_a_reason(world, body, reason):
    response = world.api.post("/webhooks", body)
    assert response.status_code == 422
    assert reason.lower() in json.dumps(response.json()).lower()


def test_plain_http_urls_are_refused_when_https_is_required(world, settings):
    settings.API_WEBHOOK_REQUIRE_HTTPS = True
    response = world.api.post("/webhooks", {"url": "http://crm.example.com/desk"})
    assert response.status_code == 422
    assert "https://" in response.json()["detail"]


def test_a_subscription_is_deleted_by_its_own_token_only(world):
    created = subscribe(world, "https://crm.example.com/desk")
    assert world.other_api.delete(f"/webhooks/{created['id']}").status_code == 404
    assert world.api.delete(f"/webhooks/{created['id']}").status_code == 204
    assert not WebhookSubscription.objects.exists()


# --- events from the conversations' signals ------------------------------------------------------
def test_resolved_new_and_failed_become_events_of_the_subscribed_channels_only(world):
    subscribe(world, "https://crm.example.com/desk")
    subscribe(world, "https://crm.example.com/resolved-only", ["conversation.resolved"])
    resolved = ConversationFactory(channel=world.channel, status="resolved")
    opened = ConversationFactory(channel=world.channel, status="new")
    elsewhere = ConversationFactory(channel=world.other, status="resolved")
    failed = MessageFactory(
        conversation=opened, channel=world.channel, direction="out", delivery="failed",
        failure_reason="Message undeliverable",
    )  # fmt: skip

    signals.conversation_changed.send(
        sender=None, conversation_ids=[resolved.pk, elsewhere.pk],
        change=Event.Kind.STATUS_CHANGED, actor_id=None,
    )  # fmt: skip
    signals.message_received.send(
        sender=None, message_ids=[], created_conversation_ids=[opened.pk],
        reopened_conversation_ids=[],
    )  # fmt: skip
    signals.message_changed.send(sender=None, message_ids=[failed.pk], change="delivery")

    rows = sorted(
        (d.subscription.url.rsplit("/", 1)[1], d.event_type, d.payload["channel_id"])
        for d in WebhookDelivery.objects.select_related("subscription")
    )
    assert rows == [
        ("desk", "conversation.created", world.channel.pk),
        ("desk", "conversation.resolved", world.channel.pk),
        ("desk", "message.failed", world.channel.pk),
        ("resolved-only", "conversation.resolved", world.channel.pk),
    ]
    failed_payload = WebhookDelivery.objects.get(event_type="message.failed").payload
    assert failed_payload["data"]["message"]["failure_reason"] == "Message undeliverable"
    created = WebhookDelivery.objects.get(event_type="conversation.created").payload
    assert created["data"]["conversation"]["id"] == opened.pk


def test_an_api_send_that_opens_a_conversation_announces_it(
    world, django_capture_on_commit_callbacks
):
    subscribe(world, "https://crm.example.com/desk", ["conversation.created"])
    with django_capture_on_commit_callbacks(execute=True):
        response = world.api.post(
            "/messages/template",
            {"channel_id": world.channel.pk, "to": "+4915112345678", "template": "order_update",
             "params": ["Ada", "A-1"]},
        )  # fmt: skip
    assert response.status_code == 201
    (delivery,) = WebhookDelivery.objects.all()
    assert delivery.payload["data"]["conversation"]["id"] == response.json()["conversation_id"]
    assert delivery.payload["data"]["conversation"]["status"] == "pending"


def test_a_revoked_tokens_subscriptions_get_nothing(world):
    subscribe(world, "https://crm.example.com/desk")
    world.token.revoked_at = timezone.now()
    world.token.save()
    conversation = ConversationFactory(channel=world.channel, status="resolved")
    signals.conversation_changed.send(
        sender=None, conversation_ids=[conversation.pk], change="status_changed", actor_id=None
    )
    assert not WebhookDelivery.objects.exists()


# --- delivery ------------------------------------------------------------------------------------
def test_a_signed_delivery_reaches_a_real_server_and_is_retried_after_a_500(world, receiver):
    secret = subscribe(world, receiver.url)["secret"]
    conversation = ConversationFactory(channel=world.channel, status="resolved")
    start = timezone.now()
    assert webhooks.enqueue(
        [(world.channel.pk, "conversation.resolved", {"conversation": {"id": conversation.pk}})],
        now=start,
    ) == 1
    receiver.answers = [500]

    assert webhooks.deliver_due(now=start) == {"delivered": 0, "retrying": 1, "failed": 0}
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_status) == ("pending", 1, 500)
    assert delivery.due_at == start + timedelta(seconds=30)
    # Not due yet: nothing is posted.
    assert webhooks.deliver_due(now=start + timedelta(seconds=29))["retrying"] == 0
    assert len(receiver.requests) == 1

    assert webhooks.deliver_due(now=start + timedelta(seconds=30))["delivered"] == 1
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.due_at) == ("delivered", 2, None)

    assert len(receiver.requests) == 2
    for request in receiver.requests:
        headers = {k.lower(): v for k, v in request["headers"].items()}
        assert headers["x-desk-event"] == "conversation.resolved"
        assert headers["x-desk-delivery"] == str(delivery.pk)
        assert webhooks.verify(secret, request["body"], headers["x-desk-signature"])
        assert not webhooks.verify("whsec_wrong", request["body"], headers["x-desk-signature"])
        assert not webhooks.verify(secret, request["body"] + b" ", headers["x-desk-signature"])
        payload = json.loads(request["body"])
        assert payload["type"] == "conversation.resolved"
        assert payload["data"]["conversation"]["id"] == conversation.pk
    assert receiver.requests[0]["body"] == receiver.requests[1]["body"]


def test_backoff_grows_and_a_delivery_is_given_up_after_the_last_attempt(world, receiver, settings):
    settings.API_WEBHOOK_MAX_ATTEMPTS = 3
    subscribe(world, receiver.url)
    now = timezone.now()
    webhooks.enqueue([(world.channel.pk, "message.failed", {"message": {"id": 1}})], now=now)
    receiver.answers = [503, 500, 502]
    waits = []
    for _ in range(3):
        webhooks.deliver_due(now=now)
        delivery = WebhookDelivery.objects.get()
        if delivery.due_at:
            waits.append((delivery.due_at - now).total_seconds())
            now = delivery.due_at
    assert waits == [30, 60]
    assert (delivery.state, delivery.attempts, delivery.due_at) == ("failed", 3, None)
    assert len(receiver.requests) == 3


def test_an_unreachable_url_is_retried(world):
    subscribe(world, "http://127.0.0.1:9/nothing-listens")
    now = timezone.now()
    webhooks.enqueue([(world.channel.pk, "message.failed", {"message": {"id": 1}})], now=now)
    assert webhooks.deliver_due(now=now)["retrying"] == 1
    delivery = WebhookDelivery.objects.get()
    assert delivery.last_status is None and delivery.last_error == "ConnectError"


def test_the_beat_schedule_sweeps_the_outbox(settings):
    assert settings.CELERY_BEAT_SCHEDULE["deliver-api-webhooks"]["task"] == (
        "api.tasks.deliver_webhooks"
    )
    assert Message  # the module's models are importable with the app


def test_finished_deliveries_are_pruned_after_a_week_and_pending_ones_kept(world):
    subscribe(world, "https://crm.example.com/desk")
    now = timezone.now()
    old = now - timedelta(days=8)
    webhooks.enqueue([(world.channel.pk, "message.failed", {"message": {"id": n}})
                      for n in range(3)], now=old)  # fmt: skip
    done, failed, pending = WebhookDelivery.objects.order_by("payload__data__message__id")
    WebhookDelivery.objects.filter(pk=done.pk).update(state="delivered", due_at=None)
    WebhookDelivery.objects.filter(pk=failed.pk).update(state="failed", due_at=None)
    assert webhooks.prune_finished(now=now) == 2
    assert list(WebhookDelivery.objects.values_list("pk", flat=True)) == [pending.pk]


# --- through the conversations' own writers (their after-commit announcements) ----------------
def test_the_writers_announcements_become_webhook_events(
    world, django_capture_on_commit_callbacks
):
    """A customer's first message, an agent resolving it, and a send WhatsApp refused: each
    writer's announcement after commit becomes one outbox row of its event."""
    subscribe(world, "https://crm.example.com/desk")
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        message, _created = services.receive_inbound(
            channel=world.channel,
            message=InboundMessage(
                wa_id="4915112345678",
                profile_name="Ada",
                provider_message_id="wamid.first",
                sent_at=now,
                type="text",
                body="Hello?",
            ),
            now=now,
        )  # fmt: skip
    conversation = message.conversation
    with django_capture_on_commit_callbacks(execute=True):
        sent = services.send_template(
            conversation, author=None, template=world.utility, params=["Ada", "A-1"], now=now
        )
    with django_capture_on_commit_callbacks(execute=True):
        outbound.mark_failed(sent.pk, error=TransportError("timed out"), now=now)
    with django_capture_on_commit_callbacks(execute=True):
        services.move_conversation(conversation, to="resolved", actor=None, now=now)

    events = list(
        WebhookDelivery.objects.order_by("created_at", "event_type").values_list(
            "event_type", flat=True
        )
    )
    assert sorted(events) == ["conversation.created", "conversation.resolved", "message.failed"]
    by_type = {d.event_type: d.payload["data"] for d in WebhookDelivery.objects.all()}
    assert by_type["conversation.created"]["conversation"]["id"] == conversation.pk
    assert by_type["conversation.resolved"]["conversation"]["status"] == "resolved"
    assert by_type["message.failed"]["message"]["id"] == sent.pk
