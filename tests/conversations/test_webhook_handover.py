"""A webhook hands what it stored to the worker once per request (conversations/signals.py,
conversations/jobs.py, conversations/announce_queue.py), and nothing is lost on the way.

The requests really commit (``transaction=True``), so their announcements are handed over as in
production. The announcement queue runs on the real Redis (REDIS_URL, else a local one on the
default port; skipped when none answers), under a key prefix of its own per test; the Celery
broker is the unit tests' in-memory one, which nobody consumes: the drain runs here, as the
worker would run it.
"""

from __future__ import annotations

import copy
import json
import uuid

import pytest
import redis
from celery import current_app
from celery.contrib.testing.worker import start_worker
from django.conf import settings as django_settings

from config.celery import app
from conversations import announce_queue, jobs, signals, tasks
from conversations.models import Message
from tests.factories import ChannelFactory
from tests.whatsapp.conftest import APP_SECRET, fixture_json, post_signed, wait_for
from tests.whatsapp.test_broker_outage import _reachable, use_broker

pytestmark = pytest.mark.django_db(transaction=True)

REDIS_URL = django_settings.REDIS_URL or "redis://127.0.0.1:6379/8"
DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1
PNID = "109876543210987"  # the fixture's phone_number_id


@pytest.fixture
def channel(settings):
    settings.WHATSAPP_APP_SECRET = APP_SECRET
    return ChannelFactory(phone_number_id=PNID)


@pytest.fixture
def heard():
    """Every message_received announcement the receivers got, as its kwargs."""
    calls: list[dict] = []

    def receiver(sender, signal=None, **kwargs):
        calls.append(kwargs)

    signals.message_received.connect(receiver, weak=False)
    yield calls
    signals.message_received.disconnect(receiver)


@pytest.fixture
def queue(settings):
    """The announcement queue on the real Redis, its keys this test's own."""
    if not _reachable(REDIS_URL):
        pytest.skip(f"Redis not reachable at {REDIS_URL}")
    settings.ANNOUNCE_WEBHOOKS_IN_WORKER = True
    settings.ANNOUNCE_QUEUE_URL = REDIS_URL
    settings.REALTIME_PREFIX = f"test-{uuid.uuid4().hex[:12]}"
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.delete(announce_queue.key(), announce_queue.flag())


@pytest.fixture
def drains_scheduled(monkeypatch):
    """How often a request published the drain task (through the real jobs.schedule_drain)."""
    calls: list[bool] = []
    real = jobs.schedule_drain

    def counting() -> bool:
        calls.append(True)
        return real()

    monkeypatch.setattr(jobs, "schedule_drain", counting)
    return calls


def payload(*senders: str, tag: str = "") -> dict:
    """The fixture text_reply.json with one message per sender (wa_id), fresh wamids."""
    body = fixture_json("text_reply")
    value = body["entry"][0]["changes"][0]["value"]
    template = value["messages"][0]
    value["contacts"] = [{"profile": {"name": f"Customer {s}"}, "wa_id": s} for s in senders]
    value["messages"] = []
    for n, sender in enumerate(senders):
        message = copy.deepcopy(template)
        message.update({"from": sender, "id": f"wamid.handover{tag}.{sender}.{n}"})
        value["messages"].append(message)
    return body


def deliver(client, *senders: str, tag: str = ""):
    response = post_signed(client, payload(*senders, tag=tag))
    assert response.status_code == 200, response.content
    return response


def test_a_webhook_of_three_messages_is_one_entry_and_one_announcement(
    client, channel, queue, heard, drains_scheduled
):
    deliver(client, "15550000001", "15550000002", "15550000003")
    assert heard == []  # nothing ran in the request
    stored = list(Message.objects.order_by("pk").values_list("pk", flat=True))
    assert len(stored) == 3
    [entry] = queue.lrange(announce_queue.key(), 0, -1)
    [(name, kwargs)] = json.loads(entry)
    assert (name, kwargs["message_ids"]) == ("message_received", stored)
    assert drains_scheduled == [True]

    assert tasks.drain_announcements.apply().get() == 1
    assert [k["message_ids"] for k in heard] == [stored]
    assert len(heard[0]["created_conversation_ids"]) == 3
    assert queue.llen(announce_queue.key()) == 0
    assert not queue.exists(announce_queue.flag())


def test_requests_while_a_drain_is_queued_publish_no_task_and_are_announced_together(
    client, channel, queue, heard, drains_scheduled
):
    for n in range(4):
        deliver(client, f"1555000001{n}")
    assert drains_scheduled == [True]  # the first request queued the drain, the others found it
    assert queue.llen(announce_queue.key()) == 4

    tasks.drain_announcements.apply()
    stored = list(Message.objects.order_by("pk").values_list("pk", flat=True))
    assert [sorted(k["message_ids"]) for k in heard] == [stored]  # one receiver run for four

    deliver(client, "15550000020")  # the drain cleared the flag: the next request queues one
    assert drains_scheduled == [True, True]


def test_a_refused_drain_task_leaves_the_entry_for_the_next_request(
    client, channel, queue, heard, monkeypatch
):
    monkeypatch.setattr(jobs, "schedule_drain", lambda: False)  # the broker refused the task
    deliver(client, "15550000030")
    assert not queue.exists(announce_queue.flag())  # so the next request tries again
    assert queue.llen(announce_queue.key()) == 1
    tasks.drain_announcements.apply()
    assert [len(k["message_ids"]) for k in heard] == [1]


def test_with_redis_down_the_request_runs_the_receivers_and_loses_nothing(
    client, channel, heard, settings
):
    settings.ANNOUNCE_WEBHOOKS_IN_WORKER = True
    settings.ANNOUNCE_QUEUE_URL = DEAD_REDIS
    deliver(client, "15550000040", "15550000041")
    stored = sorted(Message.objects.values_list("pk", flat=True))
    assert len(stored) == 2
    assert [sorted(k["message_ids"]) for k in heard] == [stored]


def test_without_a_redis_broker_a_request_publishes_one_task_for_all_its_messages(
    client, channel, heard, settings, monkeypatch
):
    settings.ANNOUNCE_WEBHOOKS_IN_WORKER = True
    settings.ANNOUNCE_QUEUE_URL = ""  # make run's filesystem broker: one Celery task a request
    task = current_app.tasks[jobs.ANNOUNCE_BATCH]
    published: list[tuple] = []
    real = task.apply_async

    def counting(args=None, *rest, **options):
        published.append(args)
        return real(args, *rest, **options)

    monkeypatch.setattr(task, "apply_async", counting)
    deliver(client, "15550000050", "15550000051", "15550000052")
    assert heard == []
    [(batch,)] = published
    tasks.announce_batch.apply(args=(json.loads(json.dumps(batch)),))
    stored = sorted(Message.objects.values_list("pk", flat=True))
    assert [sorted(k["message_ids"]) for k in heard] == [stored]


def test_a_real_worker_drains_the_queue_and_each_message_is_announced_once(
    client, channel, queue, heard
):
    """The production path end to end: the requests queue their announcements and the drain
    task on the real Redis broker; a real Celery worker runs it."""
    saved = (app.conf.broker_url, app.conf.broker_transport_options)
    use_broker(REDIS_URL)
    try:
        with app.connection_for_write() as connection:
            connection.default_channel.queue_purge("celery")
        for n in range(5):
            deliver(client, f"155500001{n:02d}")
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
            assert wait_for(lambda: sum(len(k["message_ids"]) for k in heard) >= 5, timeout=20)
    finally:
        use_broker(saved[0])
        app.conf.broker_transport_options = saved[1]
    announced = [pk for k in heard for pk in k["message_ids"]]
    assert sorted(announced) == sorted(Message.objects.values_list("pk", flat=True))
    assert len(announced) == 5
    assert queue.llen(announce_queue.key()) == 0
