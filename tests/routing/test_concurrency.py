"""Two routing workers and concurrent replies on PostgreSQL, with real threads and connections:
no agent over capacity, no conversation given twice (docs/routing.md, docs/concurrency.md)."""

import random
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from conversations import services
from conversations.models import Conversation, Event
from routing import engine, presence, queue
from routing.models import AgentState, ChannelRouting
from tests.factories import ConversationFactory, GrantFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True)]


def run_threads(targets):
    errors = []
    start = threading.Barrier(len(targets))

    def wrap(fn):
        def go():
            try:
                start.wait()
                fn()
            except Exception as exc:  # reported below
                errors.append(exc)
            finally:
                connection.close()

        return go

    threads = [threading.Thread(target=wrap(t)) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_two_workers_and_concurrent_replies_never_exceed_capacity_nor_double_assign(
    on_postgres, cast, seed, monkeypatch
):
    from conversations.tasks import dispatch_message

    monkeypatch.setattr(dispatch_message, "delay", lambda *a, **k: None)
    rng = random.Random(seed)
    ChannelRouting.objects.create(channel=cast.channel, push=True)
    agents = [UserFactory(username=f"routed{i}") for i in range(3)]
    for agent in agents:
        GrantFactory(channel=cast.channel, user=agent)
        AgentState.objects.create(user=agent, capacity=3)
        presence.page_opened(agent)
        presence.set_availability(agent, "available")
    replier = UserFactory(username="replier")
    GrantFactory(channel=cast.channel, user=replier)  # Offline: routing never picks them
    now = timezone.now()
    convs = [
        ConversationFactory(channel=cast.channel, opened_at=now - timedelta(seconds=i))
        for i in range(40)
    ]
    queue.enqueue([c.pk for c in convs], now=now)
    targets_for_reply = [c.pk for c in convs]
    rng.shuffle(targets_for_reply)

    def worker():
        for _ in range(5):
            engine.route_waiting(now=timezone.now())

    def replies(ids):
        def go():
            for pk in ids:
                conv = Conversation.objects.get(pk=pk)
                services.reply(conv, author=replier, body="On it")

        return go

    run_threads(
        [worker, worker, replies(targets_for_reply[:10]), replies(targets_for_reply[10:20])]
    )

    for agent in agents:
        load = Conversation.objects.filter(assignee=agent, status__in=["new", "pending"]).count()
        assert load <= 3, (agent, load)
    assert Conversation.objects.filter(assignee__in=agents).count() == 9  # all capacity used
    # No conversation was assigned twice: one ASSIGNED event at most, never from someone.
    for conv in convs:
        assigned = list(
            Event.objects.filter(conversation=conv, kind=Event.Kind.ASSIGNED).values_list(
                "data", flat=True
            )
        )
        assert len(assigned) <= 1, (conv.pk, assigned)
        assert all(d.get("from") is None for d in assigned)
