"""Large webhook batches (issue 12 item 5): answered at once, stored as received, applied by the
worker in chunks; nothing lost when the broker is down or the worker dies half-way, and every
message stored exactly once."""

import json
import time
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from channels_app.whatsapp.webhooks import sign
from conversations import tasks
from conversations.models import Conversation, InboundPayload, Message
from conversations.services import inbound_payloads
from tests.factories import ChannelFactory
from tests.whatsapp.conftest import APP_SECRET, WEBHOOK_PATH, fixture_json, post_signed

PNID = "109876543210987"


@pytest.fixture(autouse=True)
def _no_pause_between_chunks(settings):
    # The pause hands SQLite's lock to other writers (test_inbound_payloads_sqlite_lock.py);
    # these tests are about what is stored, and nothing else writes.
    settings.WEBHOOK_CHUNK_PAUSE_S = 0


@pytest.fixture
def channel(db):
    return ChannelFactory(phone_number_id=PNID)


def _batch(count, *, customers=50):
    """``count`` text messages from ``customers`` customers in one signed-ready body."""
    payload = fixture_json("text_reply")
    value = payload["entry"][0]["changes"][0]["value"]
    value["contacts"] = [
        {"profile": {"name": f"Customer {c}"}, "wa_id": f"1555555{c:04d}"} for c in range(customers)
    ]
    value["messages"] = [
        {
            "from": f"1555555{n % customers:04d}",
            "id": f"wamid.BIG{n:06d}",
            "timestamp": str(1767225600 + n),
            "type": "text",
            "text": {"body": f"message {n}"},
        }
        for n in range(count)
    ]
    return json.dumps(payload).encode()


def _stored_once(count):
    ids = list(Message.objects.values_list("provider_message_id", flat=True))
    return len(ids) == count and len(set(ids)) == count


@pytest.mark.django_db(transaction=True)
def test_over_http_a_10000_message_batch_is_answered_in_under_a_second_and_stored_once(
    _plain_http_live_server, live_server
):
    ChannelFactory(phone_number_id=PNID)
    body = _batch(10_000)
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, APP_SECRET)}
    # A running server is warm: its URLconf, middleware and database connection are loaded.
    httpx.get(live_server.url + WEBHOOK_PATH)
    started = time.perf_counter()
    response = httpx.post(live_server.url + WEBHOOK_PATH, content=body, headers=headers)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    # Answered without applying the batch: inline it took 21 s (PostgreSQL) to 77 s (SQLite).
    # The < 1 s figure itself is measured by make bench, not here: on a CI machine under load a
    # wall-clock bound this tight flakes, and the assertion below is the behaviour that matters.
    assert elapsed < 5.0, f"answered in {elapsed:.2f} s"
    payload = InboundPayload.objects.get()
    assert bytes(payload.body) == body
    assert not Message.objects.exists()  # the worker applies it, not the request

    result = tasks.apply_inbound_payload(payload.pk)
    while result.startswith("continued"):  # past the task's time budget: the next task goes on
        result = tasks.apply_inbound_payload(payload.pk)
    assert result.startswith("applied 10000 events"), result
    payload.refresh_from_db()
    assert (payload.status, payload.progress, payload.total) == ("done", 10_000, 10_000)
    assert _stored_once(10_000)
    assert Conversation.objects.count() == 50
    # Applying it again (a duplicate task) claims nothing and stores nothing.
    assert tasks.apply_inbound_payload(payload.pk) == "not claimed"
    assert Message.objects.count() == 10_000


@pytest.mark.django_db(transaction=True)
def test_over_http_a_signed_3mb_batch_is_stored_whole(_plain_http_live_server, live_server):
    ChannelFactory(phone_number_id=PNID)
    payload = json.loads(_batch(48))
    for message in payload["entry"][0]["changes"][0]["value"]["messages"]:
        message["text"]["body"] += " " + "x" * 64_000
    body = json.dumps(payload).encode()
    assert len(body) > 3_000_000
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, APP_SECRET)}
    response = httpx.post(live_server.url + WEBHOOK_PATH, content=body, headers=headers)
    assert response.json() == {"messages": 48}
    assert _stored_once(48)
    assert all(len(b) > 64_000 for b in Message.objects.values_list("body", flat=True))


def test_a_small_batch_is_still_applied_in_the_request(client, channel, settings):
    response = post_signed(client, _batch(settings.WEBHOOK_INLINE_MAX_ITEMS))
    assert json.loads(response.content) == {"messages": settings.WEBHOOK_INLINE_MAX_ITEMS}
    assert not InboundPayload.objects.exists()


def test_a_worker_that_dies_half_way_is_resumed_by_the_sweep_each_message_once(
    client, channel, settings, eager_tasks
):
    settings.WEBHOOK_CHUNK_EVENTS = 40
    post_signed(client, _batch(400))  # eager: the task runs at once ...
    InboundPayload.objects.update(status="pending", progress=0, heartbeat_at=None)
    Message.objects.all().delete()
    Conversation.objects.all().delete()
    payload = InboundPayload.objects.get()
    # ... so start over and let a worker apply three chunks, then "die" (its claim stays).
    assert inbound_payloads.apply_payload(payload.pk, max_chunks=3) == "stopped at 120/400"
    assert Message.objects.count() == 120
    assert inbound_payloads.sweep_payloads(now=timezone.now()) == 0  # heartbeat still fresh
    silent = timezone.now() - settings.INBOUND_PAYLOAD_STALE_AFTER - timedelta(seconds=1)
    InboundPayload.objects.update(heartbeat_at=silent)  # the worker died that long ago
    assert inbound_payloads.sweep_payloads(now=timezone.now()) == 1  # eager: applied at once
    payload.refresh_from_db()
    assert (payload.status, payload.progress, payload.attempts) == ("done", 400, 2)
    assert _stored_once(400)


def test_chunks_applied_twice_store_each_message_once(channel):
    payload = inbound_payloads.store_payload(_batch(120), now=timezone.now())
    inbound_payloads.apply_payload(payload.pk)
    # As if the progress had been lost with a chunk's messages committed: the same again.
    InboundPayload.objects.update(status="pending", progress=0)
    assert inbound_payloads.apply_payload(payload.pk).startswith("applied 120 events")
    assert _stored_once(120)


def test_a_payload_whose_task_was_lost_is_queued_by_the_sweep(channel, settings, eager_tasks):
    # The in-memory broker of the suite takes the task and nobody runs it: a lost task.
    received = timezone.now() - settings.INBOUND_PAYLOAD_QUEUED_AFTER - timedelta(seconds=1)
    payload = InboundPayload.objects.create(body=_batch(60), received_at=received)
    assert inbound_payloads.sweep_payloads(now=timezone.now()) == 1
    payload.refresh_from_db()
    assert payload.status == "done"
    assert _stored_once(60)


def test_a_long_payload_is_handed_to_a_fresh_task_after_the_budget(channel, settings):
    settings.WEBHOOK_CHUNK_EVENTS = 40
    payload = inbound_payloads.store_payload(_batch(100), now=timezone.now())
    result = inbound_payloads.apply_payload(payload.pk, budget_s=0)
    assert result == "continued at 40/100"
    payload.refresh_from_db()
    assert (payload.status, payload.progress) == ("pending", 40)
    assert inbound_payloads.apply_payload(payload.pk).startswith("applied 100 events")
    assert _stored_once(100)


def test_applied_payloads_are_dropped_after_the_retention(channel, settings):
    payload = inbound_payloads.store_payload(_batch(20), now=timezone.now())
    inbound_payloads.apply_payload(payload.pk)
    inbound_payloads.sweep_payloads(now=timezone.now())
    assert InboundPayload.objects.filter(pk=payload.pk).exists()
    inbound_payloads.sweep_payloads(
        now=timezone.now() + settings.INBOUND_PAYLOAD_RETENTION + timedelta(minutes=1)
    )
    assert not InboundPayload.objects.exists()
    assert Message.objects.count() == 20
