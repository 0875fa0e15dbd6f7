"""The inbox's reads that keep the page bounded at 10M conversations (docs/pages.md, "The inbox
at 10M"): which pages are read per channel, and the search read in order (the head, then the
months newest first) finding exactly what the full-text match finds, under the same cap."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from config import db_features
from conversations import queries, search
from conversations.models import Message
from tests.factories import ChannelFactory, ConversationFactory, MessageFactory, TagFactory

pytestmark = pytest.mark.django_db

CHANNELS = [queries.ChannelOption(pk, f"Shop {pk}") for pk in range(1, 31)]


def _filters(**kwargs):
    return queries.InboxFilters(**{"status": "resolved", **kwargs})


def test_which_pages_are_read_per_channel():
    few, many = CHANNELS[:5], CHANNELS
    every = [c.pk for c in many]
    # A queue over several channels: per channel, however many (the invisible channels' rows
    # cost nothing then).
    assert queries.per_channel_ids(_filters(), many) == every
    assert queries.per_channel_ids(_filters(status="new"), few) == [c.pk for c in few]
    # One channel, a search's id list, "assigned to me" (its own index): one walk.
    assert queries.per_channel_ids(_filters(), many[:1]) is None
    assert queries.per_channel_ids(_filters(channel=many[3]), many) is None
    assert queries.per_channel_ids(_filters(q="refund"), many) is None
    assert queries.per_channel_ids(_filters(assignee=queries.ASSIGNEE_ME), many) is None
    # Filters that pass part of the rows: per channel however many channels (each read only
    # down to the page's bound), but longest waiting first only for a few channels.
    tag = TagFactory.build(pk=1)
    waiting = queries.SORT_WAITING
    assert queries.per_channel_ids(_filters(tag=tag), many) == every
    assert queries.per_channel_ids(_filters(tag=tag), few, sort=waiting) == [c.pk for c in few]
    assert queries.per_channel_ids(_filters(tag=tag), many, sort=waiting) is None
    unassigned = _filters(status="new", assignee=queries.ASSIGNEE_NONE)
    assert queries.per_channel_ids(unassigned, many, sort=waiting) is None
    assert queries.per_channel_ids(unassigned, few, sort=waiting) is not None
    # Every resolved conversation is unassigned: the filter changes nothing there.
    resolved = _filters(assignee=queries.ASSIGNEE_NONE)
    assert queries.per_channel_ids(resolved, many, sort=waiting) == every


def _message(conversation, body, at):
    return MessageFactory(conversation=conversation, body=body, created_at=at, sent_at=at)


def test_the_month_slices_cover_every_message_once(cast):
    now = timezone.now()
    conversation = ConversationFactory(channel=cast.channel, opened_at=now - timedelta(days=900))
    moments = [now + timedelta(days=40), now, now - timedelta(days=35), now - timedelta(days=800)]
    moments.append(datetime(now.year, now.month, 1, tzinfo=UTC))  # a month's first instant
    ids = {_message(conversation, "x", at).pk for at in moments}
    messages = Message.objects.filter(conversation=conversation)

    assert db_features.DIALECTS["sqlite"].newest_months_first(
        messages, field="created_at", now=now, months=3
    ) == [messages]
    slices = db_features.DIALECTS["postgresql"].newest_months_first(
        messages, field="created_at", now=now, months=3
    )
    assert len(slices) == 4  # this month (and later), the two before, all older
    found = [pk for part in slices for pk in part.values_list("pk", flat=True)]
    assert sorted(found) == sorted(ids)  # each once
    assert [part.count() for part in (slices[0], slices[-1])] == [3, 1]


@pytest.fixture
def corpus(cast):
    """Conversations with a common word in recent messages and rarer ones across the years."""
    now = timezone.now()
    made = {}
    for i in range(8):
        c = ConversationFactory(channel=cast.channel, opened_at=now - timedelta(days=900))
        _message(c, f"Please refund order {i}", now - timedelta(hours=i))
        made[f"common{i}"] = c
    for key, days in [("rare_recent", 10), ("rare_old", 400), ("rare_oldest", 800)]:
        c = ConversationFactory(channel=cast.channel, opened_at=now - timedelta(days=900))
        _message(c, "The zipper broke", now - timedelta(days=days))
        made[key] = c
    gone = ConversationFactory(channel=cast.channel)
    Message.objects.filter(pk=_message(gone, "zipper refund", now).pk).update(revoked_at=now)
    made["revoked"] = gone
    return made


def _keys(corpus, ids):
    return {key for key, c in corpus.items() if c.pk in set(ids)}


@pytest.mark.parametrize("many_channels", [False, True])
@pytest.mark.parametrize("head", [False, True])
def test_the_search_finds_what_the_full_text_finds_through_head_and_months(
    cast, corpus, monkeypatch, many_channels, head
):
    """Whichever part finds them (the head for a common word, the months for a rare one, the
    oldest slice for old ones), the matches are the same; deleted messages never match."""
    monkeypatch.setattr(search, "HEAD_ROWS", 6)
    monkeypatch.setattr(search, "PROBE_ROWS", 3)
    monkeypatch.setattr(search, "PROBE_MIN", 1 if head else 4)  # 4: the head is skipped
    monkeypatch.setattr(search, "HEAD_MIN_ROWS", 0)  # a test's months hold a few messages
    monkeypatch.setattr(search, "FILTER_CHANNELS_ABOVE", 0 if many_channels else 20)
    channels = [cast.channel.pk, ChannelFactory().pk]

    common = {f"common{i}" for i in range(8)}
    assert _keys(corpus, search.matching_ids("refund", channels)) == common
    rare = {"rare_recent", "rare_old", "rare_oldest"}
    assert _keys(corpus, search.matching_ids("zipper", channels)) == rare
    assert _keys(corpus, search.matching_ids("refund order 3", channels)) == {"common3"}
    assert search.matching_ids("nowhere-at-all", channels) == []
    assert search.matching_ids("refund", [ChannelFactory().pk]) == []  # not visible


def test_the_search_stops_at_the_cap_newest_months_first(cast, corpus, monkeypatch, on_postgres):
    monkeypatch.setattr(search, "MESSAGE_CAP", 2)
    monkeypatch.setattr(search, "MONTHS", 24)  # 400 days back has a slice of its own
    monkeypatch.setattr(search, "PROBE_MIN", 10_000)  # no head: the months in order
    found = _keys(corpus, search.matching_ids("zipper", [cast.channel.pk]))
    # The newest two of the three, the one 800 days back left out.
    assert found == {"rare_recent", "rare_old"}
    monkeypatch.setattr(search, "MESSAGE_CAP", 3)
    assert len(search.matching_ids("refund", [cast.channel.pk])) == 3


def test_the_rows_estimate_reads_the_planner_statistics_and_skips_missing_tables(on_postgres):
    from django.db import connection

    sql, params = db_features.dialect().rows_estimate(["conversations_tag", "no_such_table"])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE conversations_tag")
        TagFactory(name="one")
        cursor.execute("ANALYZE conversations_tag")
        cursor.execute(f"SELECT {sql}", params)
        assert cursor.fetchone()[0] >= 1
    assert db_features.DIALECTS["sqlite"].rows_estimate(["conversations_tag"]) == ("0", ())


@pytest.mark.parametrize("tagged", [False, True])
def test_a_page_read_per_channel_with_one_busy_channel_is_the_plain_walk(cast, on_postgres, tagged):
    """Twelve channels, one of them holding most of the newest rows: each channel is read
    only down to the page's bound (the heads), and the pages are still exactly the plain
    query's, across every page."""
    from channels_app.access import Role
    from tests.factories import GrantFactory

    extra = [ChannelFactory() for _ in range(11)]
    for channel in extra:
        GrantFactory(channel=channel, user=cast.viewer, role=Role.VIEWER)
    refund = TagFactory(name="refund")
    at = timezone.now() - timedelta(days=1)
    busy, quiet = cast.channel, extra
    for i in range(40):
        channel = busy if i < 25 else quiet[i % len(quiet)]
        same = at - timedelta(minutes=i // 2)  # pairs share a timestamp
        conversation = ConversationFactory(
            channel=channel, status="resolved", opened_at=same, last_activity_at=same
        )
        if i % 3 == 0:
            conversation.tags.add(refund)
    channels = queries.inbox_channels(cast.viewer)
    filters = queries.InboxFilters(status="resolved", tag=refund if tagged else None)
    base = queries.inbox_for(cast.viewer, filters, channels=channels)
    split = queries.per_channel(cast.viewer, filters, channels)
    assert split is not None and len(split.ids) == 12

    def walk(per_channel=None):
        seen, cursor = [], None
        while True:
            page = queries.inbox_page(
                base,
                status="resolved",
                cursor=cursor,
                size=4,
                channels=channels,
                per_channel=per_channel,
            )
            seen += [row.pk for row in page.rows]
            if page.next_cursor is None:
                return seen
            cursor = page.next_cursor

    plain = walk()
    assert len(plain) == len(set(plain)) == (14 if tagged else 40)
    assert walk(split) == plain


def test_the_answer_state_finds_old_messages_with_the_pruning_bound(cast):
    """realtime.answers bounds the rows' newest-message lookup by the oldest opening among
    them: a conversation opened and last written long ago still shows who wrote last."""
    from realtime import answers

    now = timezone.now()
    old = ConversationFactory(channel=cast.channel, opened_at=now - timedelta(days=400))
    MessageFactory(
        conversation=old,
        direction=Message.Direction.OUTBOUND,
        created_at=now - timedelta(days=399),
        sent_at=now - timedelta(days=399),
    )
    new = ConversationFactory(channel=cast.channel, opened_at=now)
    silent = ConversationFactory(channel=cast.channel, opened_at=now - timedelta(days=2))
    found = answers.states([new, old, silent])
    assert found[old.pk].last_from == answers.DESK
    assert found[new.pk].last_from is None and found[silent.pk].last_from is None


def test_unassigned_counts_stop_at_the_lower_cap_and_say_so(client, cast, monkeypatch):
    """Under "unassigned" (a heap visit per row counted) the tabs count to the filters' cap
    and show "+", as under a tag; without the filter the same queue counts exactly."""
    monkeypatch.setattr(queries, "FILTERED_COUNT_CAP", 3)
    monkeypatch.setattr(queries, "COUNT_CAP", 10)
    for _ in range(4):
        ConversationFactory(channel=cast.channel, status="new", assignee=None)
    ConversationFactory(channel=cast.channel, status="new", assignee=cast.contributor)
    client.force_login(cast.supervisor)

    response = client.get("/inbox/", {"assignee": queries.ASSIGNEE_NONE})
    tabs = {q["value"]: q for q in response.context["queues"]}
    assert (tabs["new"]["count"], tabs["new"]["capped"]) == (3, True)
    assert b"3+" in response.content
    plain = {q["value"]: q for q in client.get("/inbox/").context["queues"]}
    assert (plain["new"]["count"], plain["new"]["capped"]) == (5, False)
    mine = {q["value"]: q for q in client.get("/inbox/", {"assignee": "me"}).context["queues"]}
    assert mine["new"]["capped"] is False
