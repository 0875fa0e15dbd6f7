"""Issue 21, item 2: a broker that is down or misconfigured never turns a request into a 500, and
the media still arrives once it recovers (the real emulator, real brokers, a real worker).

Three real failures: the quick-start filesystem broker's folder missing, Redis on a closed port,
and a broker URL nothing can parse. Each time the enqueue logs one warning line without a
traceback, the webhook answers 200, and after recovery the media sweep queues the download that
a real Celery worker then fetches from the emulator.
"""

import logging
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from config.celery import app
from conversations import media
from conversations.models import Message
from tests.factories import ConversationFactory
from tests.whatsapp.conftest import wait_for
from tests.whatsapp.test_broker_outage import DEAD_BROKER, _reachable, use_broker
from tests.whatsapp.test_end_to_end import customer_writes

pytestmark = pytest.mark.django_db(transaction=True)
REDIS_URL = settings.REDIS_URL or "redis://127.0.0.1:6379/2"
AFTER_THE_SWEEP_DELAY = media.SWEEP_AFTER + timedelta(seconds=1)


def use_filesystem_broker(folder) -> None:
    use_broker("filesystem://")
    app.conf.broker_transport_options = {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
    }


@pytest.fixture
def restore_broker():
    saved = (app.conf.broker_url, dict(app.conf.broker_transport_options or {}))
    yield
    use_broker(saved[0])
    app.conf.broker_transport_options = saved[1]


def enqueue_warnings(caplog, task="conversations.tasks.download_media"):
    # Other rooms' receivers of conversations.signals (routing) enqueue their own tasks too.
    return [
        r
        for r in caplog.records
        if "left for the sweep" in r.getMessage() and task in r.getMessage()
    ]


def webhook_statuses(emulator, message):
    return [
        d["status"]
        for d in emulator.webhooks_delivered
        if message.provider_message_id in str(d["payload"])
    ]


def image_arrives_while_broker_fails(emulator, channel, caplog, text):
    with caplog.at_level(logging.WARNING):
        message = customer_writes(emulator, channel, text=text, type="image")
        assert emulator.idle(timeout=10)
    assert webhook_statuses(emulator, message) == [200]  # stored at once, never retried
    message.refresh_from_db()
    assert "file" not in message.payload and "download_error" not in message.payload
    (warning,) = enqueue_warnings(caplog)
    assert warning.exc_info is None and "download_media" in warning.getMessage()
    return message


def sweep_and_work(message):
    assert media.sweep_media(now=timezone.now() + AFTER_THE_SWEEP_DELAY) == 1
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        assert wait_for(
            lambda: Message.objects.filter(pk=message.pk, payload__has_key="file").exists(),
            timeout=20,
        )
    message.refresh_from_db()
    path = settings.MEDIA_ROOT / message.payload["file"]
    assert path.read_bytes().startswith(b"\x89PNG")


def test_missing_filesystem_broker_folder_then_media_arrives_after_recovery(
    emulator, wa_channel, tmp_path, restore_broker, caplog
):
    folder = tmp_path / "broker"  # not created: what the quick start met
    use_filesystem_broker(folder)
    message = image_arrives_while_broker_fails(emulator, wa_channel, caplog, "the dent, fs")

    for sub in ("queue", "processed", "control"):
        (folder / sub).mkdir(parents=True)
    sweep_and_work(message)


def test_redis_down_then_media_arrives_after_recovery(
    emulator, wa_channel, restore_broker, caplog
):
    if not _reachable(REDIS_URL):
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    use_broker(DEAD_BROKER)
    message = image_arrives_while_broker_fails(emulator, wa_channel, caplog, "the dent, redis")

    use_broker(REDIS_URL)
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("celery")
    sweep_and_work(message)


def test_a_misconfigured_broker_url_fails_neither_a_webhook_nor_a_reply(
    emulator, wa_channel, restore_broker, caplog, client, cast
):
    use_broker("nosuchtransport://broker.invalid/0")
    image_arrives_while_broker_fails(emulator, wa_channel, caplog, "the dent, bad url")

    caplog.clear()
    now = timezone.now()
    conversation = ConversationFactory(
        channel=cast.channel,
        opened_at=now - timedelta(hours=1),
        last_customer_message_at=now - timedelta(minutes=5),
    )
    client.force_login(cast.contributor)
    with caplog.at_level(logging.WARNING):
        response = client.post(
            reverse("conversations:reply", args=[conversation.pk]), {"body": "On its way"}
        )
    assert response.status_code == 302
    reply = Message.objects.get(conversation=conversation, direction="out")
    assert reply.delivery == Message.Delivery.QUEUED  # the outbound sweep sends it later
    (warning,) = enqueue_warnings(caplog, "conversations.tasks.dispatch_message")
    assert warning.exc_info is None and "dispatch_message" in warning.getMessage()
