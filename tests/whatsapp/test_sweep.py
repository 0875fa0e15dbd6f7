"""The outbound sweep: what counts as stuck, one second either side of each boundary."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.models import Message
from conversations.services import outbound
from tests.factories import ConversationFactory
from tests.whatsapp.conftest import queue_reply

pytestmark = pytest.mark.django_db
NOW = timezone.now()


def reply(delivery="queued", *, age, attempts=0, claimed_ago=None):
    message = queue_reply(ConversationFactory(), created_at=NOW - age)
    payload = {}
    if claimed_ago is not None:
        payload = {"dispatch": {"claimed_at": (NOW - claimed_ago).isoformat()}}
    Message.objects.filter(pk=message.pk).update(
        delivery=delivery, attempts=attempts, payload=payload
    )
    return message.pk


def test_queued_reply_is_stuck_one_second_after_the_limit():
    young = reply(age=outbound.STUCK_QUEUED_AFTER - timedelta(seconds=1))
    old = reply(age=outbound.STUCK_QUEUED_AFTER + timedelta(seconds=1))
    ids = outbound.stuck_messages(now=NOW)
    assert old in ids and young not in ids


def test_a_reply_waiting_for_its_backoff_is_left_to_the_retry():
    waiting = reply(age=timedelta(hours=1), attempts=2, claimed_ago=timedelta(seconds=30))
    lost = reply(age=timedelta(hours=1), attempts=2, claimed_ago=timedelta(minutes=10))
    ids = outbound.stuck_messages(now=NOW)
    assert lost in ids and waiting not in ids


def test_a_dead_claim_is_released_and_a_live_one_kept():
    limit = outbound.STUCK_SENDING_AFTER
    live = reply(
        "sending", age=timedelta(hours=1), attempts=1, claimed_ago=limit - timedelta(seconds=1)
    )
    dead = reply(
        "sending", age=timedelta(hours=1), attempts=1, claimed_ago=limit + timedelta(seconds=1)
    )
    ids = outbound.stuck_messages(now=NOW)
    assert dead in ids and live not in ids
    assert Message.objects.get(pk=dead).delivery == "queued"
    assert Message.objects.get(pk=live).delivery == "sending"


def test_sent_and_failed_replies_are_never_swept():
    for state in ("sent", "delivered", "read", "failed"):
        reply(state, age=timedelta(days=1))
    assert outbound.stuck_messages(now=NOW) == []


def test_sweep_enqueues_each_stuck_reply_and_dispatch_is_idempotent():
    pk = reply(age=timedelta(hours=1))
    enqueued = []
    assert outbound.sweep_outbound(now=NOW, enqueue=enqueued.append) == 1
    assert enqueued == [pk]
    Message.objects.filter(pk=pk).update(delivery="sent")
    assert outbound.dispatch(pk).result == "skipped"


def test_backoff_grows_and_stays_under_the_cap():
    assert outbound.backoff(1) <= outbound.BACKOFF_BASE_S
    assert outbound.BACKOFF_BASE_S * 4 / 2 <= outbound.backoff(3) <= outbound.BACKOFF_BASE_S * 4
    assert outbound.backoff(50) <= outbound.BACKOFF_CAP_S
