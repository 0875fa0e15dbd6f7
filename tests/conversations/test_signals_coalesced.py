"""signals.coalesced(): a batch writer's per-message announcements become one per signal and
arguments at commit, without announcing what a rolled-back savepoint wrote."""

from __future__ import annotations

import pytest
from django.db import transaction

from conversations import signals


def _received(*ids, created=()):
    signals.announce(
        signals.message_received,
        message_ids=list(ids),
        created_conversation_ids=list(created),
        reopened_conversation_ids=[],
    )

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def heard():
    calls: list[tuple[str, dict]] = []

    def received(sender, signal, **kwargs):
        calls.append(("received", kwargs))

    def changed(sender, signal, **kwargs):
        calls.append(("changed", kwargs))

    signals.message_received.connect(received, dispatch_uid="test-coalesced-received")
    signals.conversation_changed.connect(changed, dispatch_uid="test-coalesced-changed")
    yield calls
    signals.message_received.disconnect(dispatch_uid="test-coalesced-received")
    signals.conversation_changed.disconnect(dispatch_uid="test-coalesced-changed")


class Refused(Exception):
    pass


def test_a_blocks_announcements_are_merged_at_commit_and_a_rolled_back_savepoints_dropped(heard):
    with transaction.atomic(), signals.coalesced():
        for n in (1, 2, 3):
            _received(n, created=[10 + n % 2])
        with pytest.raises(Refused), transaction.atomic():
            _received(99, created=[99])
            raise Refused
        signals.announce(signals.conversation_changed, conversation_ids=[5], change="assigned",
                         actor_id=7)  # fmt: skip
        signals.announce(signals.conversation_changed, conversation_ids=[6], change="assigned",
                         actor_id=7)  # fmt: skip
        signals.announce(signals.conversation_changed, conversation_ids=[5], change="tag_added",
                         actor_id=7)  # fmt: skip
        assert heard == []  # nothing before the commit
    assert heard == [
        ("received", {"message_ids": [1, 2, 3], "created_conversation_ids": [11, 10],
                      "reopened_conversation_ids": []}),
        ("changed", {"conversation_ids": [5, 6], "change": "assigned", "actor_id": 7}),
        ("changed", {"conversation_ids": [5], "change": "tag_added", "actor_id": 7}),
    ]  # fmt: skip


def test_nothing_is_announced_when_the_block_or_its_transaction_is_rolled_back(heard):
    with pytest.raises(Refused), transaction.atomic(), signals.coalesced():
        _received(1)
        raise Refused
    with pytest.raises(Refused), transaction.atomic():
        with signals.coalesced():
            _received(2)
        raise Refused
    assert heard == []


def test_outside_a_transaction_each_announcement_is_sent_as_before(heard):
    with signals.coalesced():
        for n in (1, 2):
            with transaction.atomic():
                _received(n)
    assert [kwargs["message_ids"] for _kind, kwargs in heard] == [[1], [2]]
