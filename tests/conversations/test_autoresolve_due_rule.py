"""Every statement of auto-resolve follows the one due condition of ``conversations.rules``.

The batch, the dry-run counts (``due_counts``, which the command prints) and the rules' own
``is_due`` must pick the same conversations, one second either side of each queue's limit and
exactly at it, for every status and with a queue switched off; on SQLite and on PostgreSQL
(each runs its own engine: the claim and resolve under the write lock, or the one statement).
"""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from conversations import rules
from conversations.models import Conversation
from conversations.services import autoresolve
from tests.factories import ChannelFactory, ConversationFactory

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
AROUND = (timedelta(seconds=-1), timedelta(0), timedelta(microseconds=1), timedelta(seconds=1))


def world() -> list[Conversation]:
    """Two channels (one with Pending switched off), a conversation of every status at, just
    before and just after every limit either channel sets."""
    channels = [
        ChannelFactory(auto_resolve_new_after=2 * DAY, auto_resolve_pending_after=5 * DAY),
        ChannelFactory(auto_resolve_new_after=5 * DAY, auto_resolve_pending_after=None),
    ]
    limits = sorted({2 * DAY, 5 * DAY})
    conversations = []
    for channel in channels:
        for status in Conversation.Status.values:
            for limit in limits:
                for delta in AROUND:
                    at = NOW - limit - delta
                    conversations.append(
                        ConversationFactory(
                            channel=channel,
                            status=status,
                            opened_at=at - DAY,
                            last_activity_at=at,
                            snoozed_until=NOW + DAY if status == "snoozed" else None,
                        )
                    )
    return conversations


def due_by_the_rules(conversations: list[Conversation]) -> Counter:
    counts: Counter = Counter()
    for conv in conversations:
        after = rules.auto_resolve_after(conv.channel, conv.status)
        if rules.is_due(
            status=conv.status, last_activity_at=conv.last_activity_at, after=after, now=NOW
        ):
            counts[(conv.channel_id, conv.status)] += 1
    return counts


@pytest.mark.django_db
def test_the_counts_and_the_batches_pick_what_is_due_by_the_rules():
    conversations = world()
    expected = due_by_the_rules(conversations)
    assert expected  # the world has due rows on both channels and queues
    assert autoresolve.due_counts(now=NOW) == expected

    summary = autoresolve.autoresolve(now=NOW, batch_size=3, exclusive=False)

    assert summary.resolved == expected
    resolved = set(
        Conversation.objects.filter(resolution__in=rules.AUTO_RESOLUTION.values()).values_list(
            "pk", flat=True
        )
    )
    assert resolved == {
        conv.pk
        for conv in conversations
        if rules.is_due(
            status=conv.status,
            last_activity_at=conv.last_activity_at,
            after=rules.auto_resolve_after(conv.channel, conv.status),
            now=NOW,
        )
    }
    assert autoresolve.due_counts(now=NOW) == Counter()
