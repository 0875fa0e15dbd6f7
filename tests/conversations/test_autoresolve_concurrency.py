"""Auto-resolve against real concurrency on PostgreSQL: overlapping runs and agents' row locks."""

import itertools
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction

from conversations.models import Conversation, Event
from conversations.services import autoresolve
from tests.factories import ChannelFactory, ConversationFactory

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)

pytestmark = pytest.mark.django_db(transaction=True)


def waiting(channel, status, age):
    at = NOW - age
    return ConversationFactory(channel=channel, status=status, opened_at=at, last_activity_at=at)


def in_thread(target, *args, **kwargs):
    """Run ``target`` in its own thread, i.e. on its own database connection."""
    result = {}

    def run():
        try:
            result["value"] = target(*args, **kwargs)
        except BaseException as exc:  # re-raised in the test's thread
            result["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def joined(thread, result):
    thread.join(timeout=60)
    assert not thread.is_alive(), "thread hung"
    if "error" in result:
        raise result["error"]
    return result.get("value")


def events_per_conversation() -> Counter:
    return Counter(
        Event.objects.filter(kind=Event.Kind.AUTO_RESOLVED).values_list(
            "conversation_id", flat=True
        )
    )


@pytest.mark.parametrize("exclusive", [False, True], ids=["skip-locked-only", "advisory-lock"])
def test_two_overlapping_runs_resolve_each_conversation_exactly_once(on_postgres, exclusive):
    channels = [
        ChannelFactory(auto_resolve_new_after=DAY, auto_resolve_pending_after=DAY),
        ChannelFactory(auto_resolve_new_after=2 * DAY, auto_resolve_pending_after=DAY),
    ]
    due = [waiting(channels[i % 2], ("new", "pending")[i % 3 % 2], 3 * DAY).pk for i in range(120)]
    start = threading.Barrier(2)

    def run():
        start.wait()
        return autoresolve.autoresolve(now=NOW, batch_size=5, exclusive=exclusive)

    runs = [in_thread(run) for _ in range(2)]
    summaries = [joined(*run) for run in runs]

    assert sum(s.total for s in summaries) == len(due)
    assert events_per_conversation() == Counter(dict.fromkeys(due, 1))
    assert not Conversation.objects.exclude(status="resolved").exists()
    if exclusive:
        # Whichever run came second either found the lock taken or nothing left to do.
        assert sorted(s.total for s in summaries) == [0, len(due)]


def test_run_skips_while_another_run_holds_the_advisory_lock(on_postgres):
    channel = ChannelFactory(auto_resolve_new_after=DAY)
    conv = waiting(channel, "new", 3 * DAY)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [autoresolve.ADVISORY_LOCK_KEY])
    try:
        skipped = joined(*in_thread(autoresolve.autoresolve, now=NOW))
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [autoresolve.ADVISORY_LOCK_KEY])
    assert skipped.skipped
    assert skipped.total == 0
    conv.refresh_from_db()
    assert conv.status == "new"

    done = autoresolve.autoresolve(now=NOW)

    assert (done.skipped, done.total) == (False, 1)


def agent_holding(pk, *, locked: threading.Event, release: threading.Event, touch: bool):
    """An agent's transaction: lock the conversation as a reply does, maybe record activity,
    and keep the lock until told to commit."""
    with transaction.atomic():
        conv = Conversation.objects.select_for_update(no_key=True).get(pk=pk)
        if touch:
            conv.last_activity_at = NOW
            conv.save(update_fields=["last_activity_at"])
        locked.set()
        assert release.wait(timeout=30)


@pytest.mark.parametrize("touch", [False, True], ids=["lock-only", "agent-replies"])
def test_conversation_an_agent_holds_is_skipped_and_judged_again_next_run(on_postgres, touch):
    channel = ChannelFactory(auto_resolve_new_after=DAY)
    held, free = waiting(channel, "new", 3 * DAY), waiting(channel, "new", 4 * DAY)
    locked, release = threading.Event(), threading.Event()
    agent = in_thread(agent_holding, held.pk, locked=locked, release=release, touch=touch)
    assert locked.wait(timeout=30)
    try:
        first = autoresolve.autoresolve(now=NOW)
    finally:
        release.set()
        joined(*agent)

    # The run neither waited for the agent nor touched the row.
    assert first.total == 1
    assert events_per_conversation() == Counter({free.pk: 1})
    held.refresh_from_db()
    assert held.status == "new"

    second = autoresolve.autoresolve(now=NOW)

    held.refresh_from_db()
    if touch:
        # The reply made it fresh: the next run leaves it open.
        assert (second.total, held.status) == (0, "new")
        assert events_per_conversation() == Counter({free.pk: 1})
    else:
        # Only locked, still old: the next run resolves it, once.
        assert (second.total, held.status) == (1, "resolved")
        assert events_per_conversation() == Counter({free.pk: 1, held.pk: 1})


def test_an_agent_resolving_by_hand_during_the_run_gets_no_auto_event(on_postgres):
    channel = ChannelFactory(auto_resolve_pending_after=DAY)
    conv = waiting(channel, "pending", 3 * DAY)
    locked, release = threading.Event(), threading.Event()

    def agent_resolves():
        with transaction.atomic():
            c = Conversation.objects.select_for_update(no_key=True).get(pk=conv.pk)
            c.status, c.resolution, c.resolved_at = "resolved", "agent", NOW
            c.save(update_fields=["status", "resolution", "resolved_at"])
            locked.set()
            assert release.wait(timeout=30)

    agent = in_thread(agent_resolves)
    assert locked.wait(timeout=30)
    try:
        during = autoresolve.autoresolve(now=NOW)
    finally:
        release.set()
        joined(*agent)
    after = autoresolve.autoresolve(now=NOW)

    conv.refresh_from_db()
    assert (during.total, after.total) == (0, 0)
    assert (conv.status, conv.resolution) == ("resolved", "agent")
    assert not events_per_conversation()


def test_side_by_side_workers_share_the_channels_and_resolve_each_row_once(on_postgres):
    channels = [
        ChannelFactory(auto_resolve_new_after=7 * DAY, auto_resolve_pending_after=30 * DAY)
        for _ in range(5)
    ]
    due = [waiting(ch, "new", 8 * DAY) for ch in channels for _ in range(9)]
    due += [waiting(ch, "pending", 31 * DAY) for ch in channels[:2] for _ in range(4)]
    kept = [waiting(ch, "new", 6 * DAY) for ch in channels]
    batches = []

    summary = autoresolve.autoresolve(
        now=NOW, batch_size=4, workers=3, on_batch=lambda s: batches.append(s.batches)
    )

    assert summary.total == len(due) == 53
    assert batches == list(range(1, summary.batches + 1))  # each batch reported once, in order
    assert events_per_conversation() == Counter({c.pk: 1 for c in due})
    assert Conversation.objects.filter(pk__in=[c.pk for c in kept], status="new").count() == 5


def test_channel_shares_cover_each_channel_with_auto_resolve_once(db):
    on = [ChannelFactory(auto_resolve_new_after=7 * DAY) for _ in range(40)]
    on += [ChannelFactory(auto_resolve_new_after=None, auto_resolve_pending_after=3 * DAY)]
    ChannelFactory(auto_resolve_new_after=None, auto_resolve_pending_after=None)

    shares = autoresolve.channel_shares(2)

    assert len(shares) == 2 * autoresolve.SHARES_PER_WORKER
    covered = [ch.pk for ch in on if any(first <= ch.pk <= last for first, last in shares)]
    assert covered == [ch.pk for ch in on]
    # Disjoint ranges, in order.
    assert all(first <= last for first, last in shares)
    assert all(a[1] < b[0] for a, b in itertools.pairwise(shares))


def test_a_worker_done_with_small_channels_takes_more_shares(on_postgres):
    # One large channel first and many small ones: split by a fixed rule, one worker would end
    # early; taking shares as they finish, both work and every due row is resolved once.
    big = ChannelFactory(auto_resolve_new_after=7 * DAY)
    small = [ChannelFactory(auto_resolve_new_after=7 * DAY) for _ in range(6)]
    due = [waiting(big, "new", 8 * DAY) for _ in range(40)]
    due += [waiting(ch, "new", 8 * DAY) for ch in small for _ in range(2)]
    threads = Counter()

    def seen(summary):
        threads[threading.current_thread().name] += 1

    summary = autoresolve.autoresolve(now=NOW, batch_size=4, workers=2, on_batch=seen)

    assert summary.total == len(due) == 52
    assert len(threads) == 2
    assert events_per_conversation() == Counter({c.pk: 1 for c in due})
