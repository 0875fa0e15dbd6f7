"""The receivers of ``message_received`` are batch-shaped: an announcement of many customers'
messages (one webhook batch: the 10,000-message batch of test_inbound_payloads.py announces each
chunk it applies) costs every receiver the same number of queries as a small one, not one or more
per message or per conversation. A receiver that loads per row turns this test red."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from conversations import signals
from conversations.models import Conversation, Message
from tests.factories import ChannelFactory
from tests.whatsapp.conftest import post_signed
from tests.whatsapp.test_inbound_payloads import PNID, _batch

MESSAGES, CUSTOMERS = 500, 20
# Every receiver together, for any size of announcement (measured: 37 on PostgreSQL with
# nothing configured; room for a receiver's new query, none for one per conversation).
CEILING = 60


def _receivers():
    sync, _async = signals.message_received._live_receivers(None)
    return sync


def _name(receiver) -> str:
    return f"{receiver.__module__}.{receiver.__qualname__}"


def _announcement(conversation_ids) -> dict:
    return {
        "message_ids": list(
            Message.objects.filter(conversation_id__in=conversation_ids)
            .order_by("pk")
            .values_list("pk", flat=True)
        ),
        "created_conversation_ids": list(conversation_ids),
        "reopened_conversation_ids": [],
    }


def _queries(receiver, announcement) -> int:
    """What the receiver costs for this announcement; its writes are undone afterwards."""
    with transaction.atomic():
        with CaptureQueriesContext(connection) as queries:
            receiver(signal=signals.message_received, sender=None, **announcement)
        transaction.set_rollback(True)
    return len(queries)


@pytest.mark.django_db
def test_every_receiver_costs_the_same_queries_for_125_messages_and_for_500(
    client, settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_INLINE_MAX_ITEMS = MESSAGES
    ChannelFactory(phone_number_id=PNID)
    # Stored by the real inbound path; the receivers run below, one at a time.
    with django_capture_on_commit_callbacks(execute=False):
        response = post_signed(client, _batch(MESSAGES, customers=CUSTOMERS))
    assert response.status_code == 200, response.content
    conversations = list(Conversation.objects.order_by("pk").values_list("pk", flat=True))
    assert len(conversations) == CUSTOMERS
    small = _announcement(conversations[:5])
    large = _announcement(conversations)
    assert (len(small["message_ids"]), len(large["message_ids"])) == (125, MESSAGES)

    receivers = _receivers()
    assert len(receivers) >= 5  # realtime, routing, service levels, automations, API webhooks
    for receiver in receivers:
        _queries(receiver, small)  # warm: what a process loads once (e.g. opt-out words)
    costs = {_name(r): (_queries(r, small), _queries(r, large)) for r in receivers}
    growing = {name: cost for name, cost in costs.items() if cost[0] != cost[1]}
    assert not growing, f"queries for (125, 500) messages: {growing}"
    assert sum(large for _small, large in costs.values()) <= CEILING, costs
