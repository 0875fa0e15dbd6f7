"""Concurrent API sends on PostgreSQL: the rate limit and the Idempotency-Key hold under races."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from conversations.models import Message
from tests.api.conftest import send_body

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(calls):
    """Run the callables at once (a barrier), each on its own database connection."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait()
            results[index] = call()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_the_same_idempotency_key_at_once_sends_once(on_postgres, world):
    def call():
        response = world.api.post(
            "/messages/template", send_body(world), **{"Idempotency-Key": "race-1"}
        )
        return response.status_code, response.json()

    results = race([call] * 4)
    assert sorted(code for code, _ in results) == [200, 200, 200, 201]
    assert len({body["message_id"] for _, body in results}) == 1
    assert Message.objects.count() == 1


def test_concurrent_sends_never_pass_the_limit(on_postgres, world, settings):
    settings.API_SENDS_PER_MINUTE = 5

    def call(n):
        return lambda: world.api.post(
            "/messages/template", send_body(world, to=f"+4915100000{n:03d}")
        ).status_code

    results = race([call(n) for n in range(8)])
    assert sorted(results) == [201] * 5 + [429] * 3
    assert Message.objects.count() == 5
