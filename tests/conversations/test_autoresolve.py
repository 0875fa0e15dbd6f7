"""The auto-resolve service: which conversations it resolves, what it writes, what it leaves."""

from datetime import UTC, datetime, timedelta

import pytest

from conversations.models import Conversation, Event
from conversations.services import autoresolve
from tests.factories import ChannelFactory, ConversationFactory, UserFactory

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
NEW, PENDING, RESOLVED = "new", "pending", "resolved"


def waiting(channel, status, age: timedelta, **kwargs) -> Conversation:
    """A conversation in ``status`` whose last activity was ``age`` before NOW."""
    at = NOW - age
    return ConversationFactory(
        channel=channel, status=status, opened_at=at, last_activity_at=at, **kwargs
    )


def status_of(conv: Conversation) -> str:
    conv.refresh_from_db()
    return conv.status


def auto_events(conv: Conversation):
    return list(Event.objects.filter(conversation=conv, kind=Event.Kind.AUTO_RESOLVED))


@pytest.fixture
def channel(db):
    return ChannelFactory(auto_resolve_new_after=7 * DAY, auto_resolve_pending_after=30 * DAY)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "age", "resolution"),
    [(NEW, 8 * DAY, "auto_new"), (PENDING, 31 * DAY, "auto_pending")],
)
def test_conversation_past_its_queue_limit_is_resolved_by_the_system(
    channel, status, age, resolution
):
    agent = UserFactory()
    conv = waiting(channel, status, age, assignee=agent)

    summary = autoresolve.autoresolve(now=NOW)

    conv.refresh_from_db()
    assert conv.status == RESOLVED
    assert conv.resolution == resolution
    assert conv.resolved_at == NOW
    assert conv.assignee is None
    # A status change is activity (DESIGN.md); the age it had is in the event.
    assert conv.last_activity_at == NOW
    [event] = auto_events(conv)
    assert event.actor is None
    assert event.created_at == NOW
    after = channel.auto_resolve_after(status)
    assert event.data == {
        "rule": status,
        "from": status,
        "to": RESOLVED,
        "after_seconds": int(after.total_seconds()),
        "assignee_id": agent.pk,
    }
    assert summary.resolved == {(channel.pk, status): 1}
    assert summary.total == 1


@pytest.mark.django_db
@pytest.mark.parametrize("status", [NEW, PENDING])
@pytest.mark.parametrize(
    ("beyond_limit", "resolved"),
    [(timedelta(seconds=1), True), (timedelta(0), False), (timedelta(seconds=-1), False)],
    ids=["1s-past-limit", "exactly-at-limit", "1s-before-limit"],
)
def test_limit_boundary_is_strict(channel, status, beyond_limit, resolved):
    """Due means strictly older than the limit: exactly at the limit waits for the next run."""
    conv = waiting(channel, status, channel.auto_resolve_after(status) + beyond_limit)

    autoresolve.autoresolve(now=NOW)

    assert (status_of(conv) == RESOLVED) is resolved
    assert len(auto_events(conv)) == (1 if resolved else 0)


@pytest.mark.django_db
def test_each_channel_uses_its_own_limits():
    quick = ChannelFactory(auto_resolve_new_after=2 * DAY, auto_resolve_pending_after=3 * DAY)
    slow = ChannelFactory(auto_resolve_new_after=30 * DAY, auto_resolve_pending_after=60 * DAY)
    quick_new = waiting(quick, NEW, 5 * DAY)
    quick_pending = waiting(quick, PENDING, 5 * DAY)
    slow_new = waiting(slow, NEW, 5 * DAY)
    slow_pending = waiting(slow, PENDING, 45 * DAY)
    slow_old_new = waiting(slow, NEW, 31 * DAY)

    summary = autoresolve.autoresolve(now=NOW)

    assert [status_of(c) for c in (quick_new, quick_pending, slow_new, slow_pending)] == [
        RESOLVED,
        RESOLVED,
        NEW,
        PENDING,
    ]
    assert status_of(slow_old_new) == RESOLVED
    assert summary.resolved == {(quick.pk, NEW): 1, (quick.pk, PENDING): 1, (slow.pk, NEW): 1}


@pytest.mark.django_db
def test_a_queue_switched_off_is_left_alone_and_the_other_still_runs():
    no_new = ChannelFactory(auto_resolve_new_after=None, auto_resolve_pending_after=DAY)
    no_pending = ChannelFactory(auto_resolve_new_after=DAY, auto_resolve_pending_after=None)
    off = ChannelFactory(auto_resolve_new_after=None, auto_resolve_pending_after=None)
    convs = {
        (ch.pk, status): waiting(ch, status, 400 * DAY)
        for ch in (no_new, no_pending, off)
        for status in (NEW, PENDING)
    }

    summary = autoresolve.autoresolve(now=NOW)

    assert {key: status_of(conv) for key, conv in convs.items()} == {
        (no_new.pk, NEW): NEW,
        (no_new.pk, PENDING): RESOLVED,
        (no_pending.pk, NEW): RESOLVED,
        (no_pending.pk, PENDING): PENDING,
        (off.pk, NEW): NEW,
        (off.pk, PENDING): PENDING,
    }
    assert Event.objects.filter(kind=Event.Kind.AUTO_RESOLVED).count() == 2
    assert summary.total == 2


@pytest.mark.django_db
def test_exactly_one_event_per_resolved_conversation_and_none_for_the_rest(channel):
    due = [waiting(channel, NEW, 8 * DAY + i * timedelta(hours=1)) for i in range(5)]
    due += [waiting(channel, PENDING, 31 * DAY) for _ in range(4)]
    young = [waiting(channel, NEW, DAY), waiting(channel, PENDING, 29 * DAY)]
    already = waiting(channel, RESOLVED, 90 * DAY, resolved_at=NOW - 80 * DAY)

    summary = autoresolve.autoresolve(now=NOW, batch_size=2)

    assert summary.total == 9
    assert summary.batches == 5
    events = Event.objects.filter(kind=Event.Kind.AUTO_RESOLVED)
    assert sorted(events.values_list("conversation_id", flat=True)) == sorted(c.pk for c in due)
    assert [status_of(c) for c in young] == [NEW, PENDING]
    already.refresh_from_db()
    assert already.resolved_at == NOW - 80 * DAY
    assert not auto_events(already)

    # Running again finds nothing: the job is idempotent.
    again = autoresolve.autoresolve(now=NOW, batch_size=2)
    assert again.total == 0
    assert events.count() == 9


@pytest.mark.django_db
def test_channel_option_limits_the_run_to_that_channel(channel):
    other = ChannelFactory(auto_resolve_new_after=DAY)
    mine = waiting(channel, NEW, 10 * DAY)
    theirs = waiting(other, NEW, 10 * DAY)

    summary = autoresolve.autoresolve(now=NOW, channel_id=channel.pk)

    assert (status_of(mine), status_of(theirs)) == (RESOLVED, NEW)
    assert summary.resolved == {(channel.pk, NEW): 1}


@pytest.mark.django_db
def test_due_counts_reports_per_channel_and_queue_and_changes_nothing(channel):
    other = ChannelFactory(auto_resolve_new_after=None, auto_resolve_pending_after=DAY)
    for _ in range(3):
        waiting(channel, NEW, 8 * DAY)
    waiting(channel, PENDING, 31 * DAY)
    waiting(other, NEW, 300 * DAY)
    waiting(other, PENDING, 2 * DAY)

    counts = autoresolve.due_counts(now=NOW)

    assert counts == {(channel.pk, NEW): 3, (channel.pk, PENDING): 1, (other.pk, PENDING): 1}
    assert autoresolve.due_counts(now=NOW, channel_id=other.pk) == {(other.pk, PENDING): 1}
    assert not Conversation.objects.filter(status=RESOLVED).exists()
    assert not Event.objects.exists()


@pytest.mark.django_db
def test_conversation_touched_while_the_run_is_going_is_left_alone(channel):
    """A customer writes to a due conversation after the run started: the next batch re-checks
    the age against the row as it is now, so the fresh conversation stays open."""
    first, second, third = (waiting(channel, NEW, (10 + i) * DAY) for i in range(3))

    def customer_writes_to_first(summary):
        if summary.batches == 1:
            Conversation.objects.filter(pk=first.pk).update(last_activity_at=NOW)

    # Oldest first: batch 1 resolves `third`, then `first` gets a message.
    summary = autoresolve.autoresolve(now=NOW, batch_size=1, on_batch=customer_writes_to_first)

    assert (status_of(first), status_of(second), status_of(third)) == (NEW, RESOLVED, RESOLVED)
    assert not auto_events(first)
    assert summary.total == 2


@pytest.mark.django_db
def test_conversation_moved_to_pending_during_the_run_is_judged_by_its_new_queue(channel):
    """8 days old is due in New (7 days) but not in Pending (30 days)."""
    moved, other = waiting(channel, NEW, 8 * DAY), waiting(channel, NEW, 9 * DAY)

    def agent_moves_it(summary):
        Conversation.objects.filter(pk=moved.pk).update(status=PENDING)

    autoresolve.autoresolve(now=NOW, batch_size=1, on_batch=agent_moves_it)

    assert (status_of(moved), status_of(other)) == (PENDING, RESOLVED)
    assert not auto_events(moved)


@pytest.mark.django_db
def test_should_stop_ends_the_run_between_batches(channel):
    for _ in range(5):
        waiting(channel, NEW, 8 * DAY)

    seen = []
    summary = autoresolve.autoresolve(
        now=NOW, batch_size=2, on_batch=seen.append, should_stop=lambda: len(seen) >= 1
    )

    assert summary.stopped
    assert summary.total == 2
    assert Conversation.objects.filter(status=NEW).count() == 3
    assert Event.objects.count() == 2


@pytest.mark.django_db
def test_naive_now_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        autoresolve.autoresolve(now=datetime(2026, 3, 1, 12, 0))


@pytest.mark.django_db
def test_celery_task_resolves_what_is_due_and_is_idempotent(channel):
    from conversations.tasks import autoresolve as autoresolve_task

    conv = ConversationFactory(
        channel=channel,
        status=NEW,
        opened_at=datetime(2020, 1, 1, tzinfo=UTC),
        last_activity_at=datetime(2020, 1, 1, tzinfo=UTC),
    )

    first = autoresolve_task.apply().get()
    second = autoresolve_task.apply().get()

    assert status_of(conv) == RESOLVED
    assert first["total"] == 1
    assert second["total"] == 0
    assert len(auto_events(conv)) == 1


@pytest.mark.parametrize(
    ("size", "took", "expected"),
    [
        (500, 0.1, 500),  # on target: unchanged
        (500, 0.4, 125),  # four times too slow: a quarter the size
        (500, 0.05, 500),  # fast, but never above the configured size
        (100, 0.01, 200),  # fast: at most doubles
        (100, 10.0, 50),  # a stall: never below the floor
    ],
)
def test_batch_size_follows_the_time_each_batch_held_its_locks(size, took, expected):
    assert autoresolve.next_batch_size(size, took, maximum=500) == expected


@pytest.mark.django_db
def test_a_run_whose_batches_shrink_still_resolves_everything_once(channel, monkeypatch):
    # Every batch looks far too slow, so sizes fall to the floor of 1 set here.
    monkeypatch.setattr(autoresolve, "TARGET_BATCH_SECONDS", 1e-9)
    monkeypatch.setattr(autoresolve, "MIN_BATCH_SIZE", 1)
    convs = [waiting(channel, NEW, 8 * DAY) for _ in range(7)]
    sizes = []

    summary = autoresolve.autoresolve(
        now=NOW, batch_size=4, on_batch=lambda s: sizes.append(s.total)
    )

    assert summary.total == 7
    assert sizes[0] == 4 and len(sizes) == 4  # 4, then 1 + 1 + 1
    assert all(status_of(c) == RESOLVED and len(auto_events(c)) == 1 for c in convs)


@pytest.mark.django_db
def test_a_run_starts_with_a_small_batch_and_grows(channel, monkeypatch):
    monkeypatch.setattr(autoresolve, "FIRST_BATCH_SIZE", 2)
    monkeypatch.setattr(autoresolve, "MIN_BATCH_SIZE", 1)
    monkeypatch.setattr(autoresolve, "TARGET_BATCH_SECONDS", 1e9)  # every batch is "fast"
    for _ in range(9):
        waiting(channel, NEW, 8 * DAY)
    totals = []

    summary = autoresolve.autoresolve(
        now=NOW, batch_size=500, on_batch=lambda s: totals.append(s.total)
    )

    assert summary.total == 9
    assert totals == [2, 6, 9]  # 2, then 4, then the last 3 of a batch of 8
