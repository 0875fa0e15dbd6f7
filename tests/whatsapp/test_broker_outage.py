"""With the broker down, replies are accepted and stay queued; once it is back, the sweep
re-enqueues them and a real worker delivers each exactly once (counted at the emulator)."""

import socket
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from kombu import pools

from config.celery import app
from conversations.models import Message
from conversations.services import outbound
from conversations.tasks import dispatch_message
from tests.whatsapp.conftest import queue_reply, wait_for
from tests.whatsapp.test_end_to_end import customer_writes

pytestmark = pytest.mark.django_db(transaction=True)
REDIS_URL = settings.REDIS_URL or "redis://127.0.0.1:6379/3"
DEAD_BROKER = "redis://127.0.0.1:1/3"  # nothing listens on port 1: the broker is "stopped"


def _reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port or 6379), timeout=0.5).close()
    except OSError:
        return False
    return True


def use_broker(url: str) -> None:
    app.conf.broker_url = url
    app.conf.broker_transport_options = {
        "max_retries": 1,
        "interval_start": 0,
        "interval_step": 0.1,
    }
    app.conf.broker_connection_timeout = 1
    # Forget pooled connections to the previous broker. app.pool is kombu's global pool for the
    # broker's URL: closing it alone would leave a closed pool registered for that URL, and every
    # later enqueue to it (the session's memory:// broker, even in eager mode) would fail with
    # "Acquire on closed pool". reset() closes and unregisters every pool.
    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def redis_broker():
    if not _reachable(REDIS_URL):
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    saved = (app.conf.broker_url, app.conf.broker_transport_options)
    yield
    use_broker(saved[0])
    app.conf.broker_transport_options = saved[1]


def test_replies_survive_a_broker_outage_and_are_delivered_exactly_once(
    emulator, wa_channel, redis_broker
):
    from celery.contrib.testing.worker import start_worker

    inbound = customer_writes(emulator, wa_channel)
    use_broker(DEAD_BROKER)
    replies = []
    for n in range(3):
        # What the inbox's reply service does: store queued, enqueue after commit.
        with transaction.atomic():
            reply = queue_reply(inbound.conversation, f"reply {n}")
            transaction.on_commit(lambda pk=reply.pk: dispatch_message.delay(pk))
        replies.append(reply)
    assert all(
        r.delivery == Message.Delivery.QUEUED
        for r in Message.objects.filter(pk__in=[r.pk for r in replies])
    )
    assert emulator.sends(wa_channel.phone_number_id) == []

    use_broker(REDIS_URL)
    with app.connection_for_write() as connection:
        connection.default_channel.queue_purge("celery")
    later = timezone.now() + outbound.STUCK_QUEUED_AFTER + timedelta(seconds=1)
    assert outbound.sweep_outbound(now=later) == 3
    assert outbound.sweep_outbound(now=later) == 3  # a second sweep before the worker: harmless
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        assert wait_for(
            lambda: (
                Message.objects.filter(
                    pk__in=[r.pk for r in replies], delivery__in=["sent", "delivered", "read"]
                ).count()
                == 3
            ),
            timeout=20,
        )
    sent = [s["text"] for s in emulator.sends(wa_channel.phone_number_id)]
    assert sorted(sent) == ["reply 0", "reply 1", "reply 2"]
