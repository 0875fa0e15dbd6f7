"""conversations.queries pieces that the pages build on."""

from datetime import UTC, datetime

import pytest
from django.db.models import CharField, F, Value

from channels_app.access import Role
from conversations import queries, search
from conversations.models import Conversation, Message
from tests.factories import ConversationFactory, MessageFactory


def test_cursor_round_trips_and_rejects_garbage():
    cursor = queries.Cursor(datetime(2026, 3, 1, 12, 30, 5, 123456, tzinfo=UTC), 42)
    assert queries.Cursor.decode(cursor.encode()) == cursor
    for raw in [None, "", "nope", "2026-03-01~x", "not-a-date~5", "2026-03-01T12:00:00~5"]:
        assert queries.Cursor.decode(raw) is None  # a naive time is refused too


@pytest.mark.django_db
def test_queue_counts_is_one_query(cast, django_assert_num_queries):
    for status in ["new", "new", "pending", "resolved"]:
        ConversationFactory(channel=cast.channel, status=status)
    with django_assert_num_queries(1):
        counts = queries.queue_counts(Conversation.objects.all())
    assert counts == {"new": 2, "pending": 1, "snoozed": 0, "resolved": 1}


@pytest.mark.django_db
def test_inbox_channels_hide_inactive_and_invisible_ones(cast):
    cast.other_channel.is_active = False
    cast.other_channel.save()
    assert [c.pk for c in queries.inbox_channels(cast.admin)] == [cast.channel.pk]
    assert queries.inbox_channels(cast.outsider) == []


@pytest.mark.django_db
def test_assignable_users_are_those_who_can_reply(cast):
    users = set(queries.assignable_users(cast.channel))
    assert {cast.contributor, cast.supervisor, cast.team_contributor, cast.admin} <= users
    # A Viewer can see the channel but not reply: the picker does not offer them.
    assert cast.viewer not in users
    assert cast.outsider not in users


@pytest.mark.django_db
def test_assignable_users_cover_every_grant_source_once(cast):
    from django.contrib.auth.models import Group, Permission

    from tests.factories import UserFactory

    perm = Permission.objects.get(codename="administer_channels")
    by_perm, by_group, idle = UserFactory(), UserFactory(), UserFactory(is_active=False)
    by_perm.user_permissions.add(perm)
    group = Group.objects.create(name="channel admins")
    group.permissions.add(perm)
    by_group.groups.add(group)
    idle.user_permissions.add(perm)
    cast.supervisor.groups.add(group)  # a second source for the same user

    users = queries.assignable_users(cast.channel)
    assert {by_perm, by_group} <= set(users)
    assert idle not in users and cast.outsider not in users
    assert len(users) == len(set(users))

    cast.other_channel.all_teams_enabled = True  # with the default role, Viewer
    assert cast.team_contributor not in queries.assignable_users(cast.other_channel)
    cast.other_channel.all_teams_role = Role.CONTRIBUTOR
    assert cast.team_contributor in queries.assignable_users(cast.other_channel)


@pytest.mark.django_db
def test_message_search_is_the_full_text_match_whatever_the_case_or_wildcards(cast, on_postgres):
    # The full-text match decides; the substring pre-check before it must neither let more
    # through (LIKE wildcards in the query are literal) nor hold a real match back.
    bodies = {
        "refund": "I am sorry. I have started a REFUND for #29002; 3-5 days.",
        "refunds": "Refunds take a week",
        "promo": "Use code 50%_OFF today",
        "path": r"See C:\temp\Refund_form for the form",
        "lookalike": "50 percent xOFF",
        "accents": "Rückerstattung für Straße",
    }
    conversations = {key: ConversationFactory(channel=cast.channel) for key in bodies}
    for key, body in bodies.items():
        MessageFactory(conversation=conversations[key], body=body)
    text_only = Message.objects.filter(channel=cast.channel)

    def found(q, messages=None):
        if messages is None:
            ids = set(search.matching_ids(q, [cast.channel.pk]))
        else:
            text = Value(q, output_field=CharField())
            messages = messages.filter(queries._BodyMatches(F("body"), text))
            ids = set(messages.values_list("conversation_id", flat=True))
        return {key for key, c in conversations.items() if c.pk in ids}

    assert found("Refund") == {"refund", "path"}  # not "Refunds": whole words only
    assert found("refund please") == set()  # every word must be there
    assert found("50%_off") == {"promo"}  # the words "50" and "off"; % and _ match themselves
    assert found("RÜCKERSTATTUNG straße") == {"accents"}
    for q in ["refund", "REFUNDS take", "50%_off", "%", "_", "x%", r"c:\temp", "für", "3-5"]:
        assert found(q) == found(q, text_only), q


@pytest.mark.parametrize(
    ("tagged", "sort"),
    [(True, queries.SORT_ACTIVITY), (False, queries.SORT_ACTIVITY), (False, queries.SORT_WAITING)],
)
def test_a_page_read_per_channel_is_the_same_walk_as_the_plain_query(
    cast, on_postgres, tagged, sort
):
    """inbox_page(per_channel=...) must page exactly like the single query: same rows, same
    order, ties on last_activity_at (or waiting_since) broken by id, every row once across
    pages; with a tag filter and without."""
    from channels_app.access import Role
    from tests.factories import ChannelFactory, GrantFactory, TagFactory

    extra = [ChannelFactory() for _ in range(2)]
    for channel in extra:
        GrantFactory(channel=channel, user=cast.viewer, role=Role.VIEWER)
    refund = TagFactory(name="refund")
    at = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    for i, channel in enumerate([cast.channel, *extra] * 7):
        same = at.replace(minute=i // 3)  # three rows share each timestamp
        conv = ConversationFactory(
            channel=channel,
            status="resolved",
            opened_at=same,
            last_activity_at=same,
            waiting_since=same if i % 5 else None,  # the answered ones last in "waiting"
        )
        if i % 4:
            conv.tags.add(refund)
    channels = queries.inbox_channels(cast.viewer)
    assert len(channels) == 3
    filters = queries.InboxFilters(status="resolved", tag=refund if tagged else None)
    base = queries.inbox_for(cast.viewer, filters, channels=channels)
    assert queries.per_channel_ids(filters, channels) == [c.pk for c in channels]

    def walk(**kwargs):
        seen, cursor = [], None
        while True:
            page = queries.inbox_page(
                base,
                status="resolved",
                cursor=cursor,
                size=4,
                channels=channels,
                sort=sort,
                **kwargs,
            )
            seen += [row.pk for row in page.rows]
            if page.next_cursor is None:
                return seen
            cursor = page.next_cursor

    plain = walk()
    assert len(plain) == len(set(plain)) == (15 if tagged else 21)
    assert walk(per_channel=queries.per_channel(cast.viewer, filters, channels)) == plain
