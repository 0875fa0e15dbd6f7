"""The inbox: queues, counts, filters, search, keyset pages, live fragment, query count, German."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from conversations.models import Conversation
from tests.factories import (
    ChannelFactory,
    ContactFactory,
    ConversationFactory,
    GrantFactory,
    MessageFactory,
    TagFactory,
    TopicFactory,
)

S = Conversation.Status
INBOX = reverse("conversations:inbox")
NOW = timezone.now()


def conv(channel, *, minutes_ago=0, **kw):
    at = NOW - timedelta(minutes=minutes_ago)
    return ConversationFactory(channel=channel, opened_at=at, last_activity_at=at, **kw)


def rows(response):
    return [c.pk for c in response.context["page"].rows]


def test_inbox_shows_the_new_queue_newest_activity_first_with_counts(client, cast):
    older = conv(cast.channel, minutes_ago=10)
    newer = conv(cast.channel, minutes_ago=1)
    conv(cast.channel, status=S.PENDING)
    conv(cast.channel, status=S.RESOLVED)
    conv(cast.channel, status=S.RESOLVED)
    client.force_login(cast.viewer)
    response = client.get(INBOX)

    assert response.status_code == 200
    assert rows(response) == [newer.pk, older.pk]
    counts = {q["value"]: q["count"] for q in response.context["queues"]}
    assert counts == {"new": 2, "pending": 1, "resolved": 2, "snoozed": 0}
    assert rows(client.get(INBOX, {"status": "pending"})) != []


def test_inbox_shows_only_visible_active_channels_with_their_display_names(client, cast):
    mine = conv(cast.channel)
    conv(cast.other_channel)  # the viewer has no grant there
    dormant = ChannelFactory(display_name="Old number", is_active=False)
    GrantFactory(channel=dormant, user=cast.viewer)
    conv(dormant)
    client.force_login(cast.viewer)
    response = client.get(INBOX)
    html = response.content.decode()

    assert rows(response) == [mine.pk]
    assert "Acme Support" in html
    assert "Other Brand" not in html
    assert "Old number" not in html


def test_outsider_sees_an_empty_inbox(client, cast):
    conv(cast.channel)
    client.force_login(cast.outsider)
    response = client.get(INBOX)
    assert rows(response) == []
    assert all(q["count"] == 0 for q in response.context["queues"])


def test_filters_channel_assignee_tag_and_topic(client, cast):
    GrantFactory(channel=cast.other_channel, user=cast.supervisor)
    tag, topic = TagFactory(name="vip"), TopicFactory(name="Returns")
    mine = conv(cast.channel, assignee=cast.supervisor, minutes_ago=1)
    unassigned = conv(cast.channel, minutes_ago=2)
    other = conv(cast.other_channel, minutes_ago=3)
    mine.tags.add(tag)
    other.topics.add(topic)
    client.force_login(cast.supervisor)

    assert rows(client.get(INBOX)) == [mine.pk, unassigned.pk, other.pk]
    assert rows(client.get(INBOX, {"channel": cast.other_channel.pk})) == [other.pk]
    assert rows(client.get(INBOX, {"assignee": "me"})) == [mine.pk]
    assert rows(client.get(INBOX, {"assignee": "unassigned"})) == [unassigned.pk, other.pk]
    assert rows(client.get(INBOX, {"tag": tag.pk})) == [mine.pk]
    assert rows(client.get(INBOX, {"topic": topic.pk})) == [other.pk]


def test_a_channel_id_the_user_cannot_see_filters_nothing_in(client, cast):
    conv(cast.other_channel)
    client.force_login(cast.viewer)
    response = client.get(INBOX, {"channel": cast.other_channel.pk})
    assert response.status_code == 200
    assert rows(response) == []
    assert response.context["form"].errors  # shown, not a 500


@pytest.mark.parametrize(
    "bad", [{"tag": "x"}, {"topic": "999"}, {"status": "nope"}, {"cursor": "garbage~x"}]
)
def test_bad_filter_values_never_500(client, cast, bad):
    client.force_login(cast.viewer)
    assert client.get(INBOX, bad).status_code == 200


def test_search_by_name_number_and_message_text(client, cast):
    dana = conv(cast.channel, contact=ContactFactory(profile_name="Dana Kim", wa_id="4915112345"))
    other = conv(cast.channel, contact=ContactFactory(profile_name="Bob", wa_id="4917000000"))
    MessageFactory(conversation=other, body="The zipper broke on my backpack")
    hidden = conv(cast.other_channel, contact=ContactFactory(profile_name="Dana Hidden"))
    MessageFactory(conversation=hidden, body="zipper too")
    client.force_login(cast.viewer)

    assert rows(client.get(INBOX, {"q": "dana"})) == [dana.pk]
    assert rows(client.get(INBOX, {"q": "15112"})) == [dana.pk]
    assert rows(client.get(INBOX, {"q": "zipper"})) == [other.pk]


def test_keyset_pagination_walks_every_row_once(client, cast, settings):
    settings.INBOX_PAGE_SIZE = 3
    same_time = NOW - timedelta(minutes=5)
    made = [conv(cast.channel, minutes_ago=i) for i in range(4)]
    # Ties on last_activity_at are broken by id, so no row is skipped or repeated.
    made += [
        ConversationFactory(channel=cast.channel, opened_at=same_time, last_activity_at=same_time)
        for _ in range(3)
    ]
    client.force_login(cast.viewer)
    seen, query = [], {}
    for _ in range(5):
        response = client.get(INBOX, query)
        seen += rows(response)
        older = response.context["older_query"]
        if not older:
            break
        query = dict(pair.split("=", 1) for pair in older.split("&"))
        query = {
            k: v.replace("%3A", ":").replace("%2B", "+").replace("%7E", "~")
            for k, v in query.items()
        }
    assert sorted(seen) == sorted(c.pk for c in made)
    assert len(seen) == len(set(seen)) == 7


def test_fragment_request_renders_only_the_live_list(client, cast):
    conv(cast.channel, last_message_preview="Parcel missing")
    client.force_login(cast.viewer)
    for response in (
        client.get(INBOX, {"fragment": "list"}),
        client.get(INBOX, headers={"HX-Request": "true"}),
    ):
        html = response.content.decode()
        assert "Parcel missing" in html
        assert "<html" not in html
        assert 'class="queues"' in html


def test_full_page_polls_the_fragment(client, cast):
    client.force_login(cast.viewer)
    html = client.get(INBOX).content.decode()
    assert 'data-live-url="/inbox/?' in html and "fragment=list" in html
    assert "desk/live.js" in html


def _grow(cast, n):
    for i in range(n):
        tag = TagFactory(name=f"grow-{n}-{i}")
        c = conv(cast.channel, minutes_ago=i, assignee=cast.contributor if i % 2 else None)
        c.tags.add(tag)
        MessageFactory(conversation=c, body=f"grow-marker {i}")
        ChannelFactory()
        TopicFactory(name=f"grow {n} {i}")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, 12),
        ({"assignee": "me", "channel": "0"}, 12),
        ({"sort": "waiting"}, 12),  # longest waiting first: the same queries
        # A search reads its matching ids first; with none there are no counts, rows or tags.
        ({"q": "zz-nothing", "assignee": "me"}, 8),
        ({"q": "grow-marker"}, 13),
    ],
)
def test_inbox_query_count_is_constant_as_data_grows(
    client, cast, django_assert_num_queries, query, expected
):
    client.force_login(cast.contributor)
    _grow(cast, 3)
    client.get(INBOX, query)
    # session, user, admin-permission check, visible channels, tags, topics, counts, rows,
    # row tags, the rows' answer state (realtime.answers), the rows' SLA clocks (service_levels'
    # sla_state tag: one for the page), the top bar's availability (routing: one a page)
    with django_assert_num_queries(expected):
        assert client.get(INBOX, query).status_code == 200
    _grow(cast, 60)
    with django_assert_num_queries(expected):
        response = client.get(INBOX, query)
    assert response.status_code == 200


def test_login_page_and_language_switcher(client):
    html = client.get(reverse("login")).content.decode()
    assert 'name="username"' in html and 'name="password"' in html
    assert 'action="/i18n/setlang/"' in html


def test_agent_logs_in_and_lands_on_the_inbox(client, cast):
    response = client.post(
        reverse("login"), {"username": cast.viewer.username, "password": "correct-horse-battery"}
    )
    assert response.status_code == 302
    assert response["Location"] == INBOX


def test_german_ui_shows_german_queue_names(client, cast):
    client.force_login(cast.viewer)
    with translation.override("de"):
        html = client.get(INBOX, headers={"Accept-Language": "de"}).content.decode()
    assert "Neu" in html
    assert "Ausstehend" in html
    assert "Gelöst" in html


def test_language_switch_to_german_is_remembered(client, cast):
    client.force_login(cast.viewer)
    response = client.post("/i18n/setlang/", {"language": "de", "next": INBOX})
    assert response.status_code == 302
    html = client.get(INBOX).content.decode()
    assert '<html lang="de">' in html


def test_queue_counts_stop_at_a_lower_cap_under_a_tag_filter_and_say_so(
    client, cast, monkeypatch
):
    from conversations import queries

    monkeypatch.setattr(queries, "FILTERED_COUNT_CAP", 3)
    monkeypatch.setattr(queries, "COUNT_CAP", 10)
    refund = TagFactory(name="refund")
    for _ in range(4):
        conv(cast.channel).tags.add(refund)
    conv(cast.channel)
    client.force_login(cast.viewer)

    tagged = {q["value"]: q for q in client.get(INBOX, {"tag": refund.pk}).context["queues"]}
    assert (tagged["new"]["count"], tagged["new"]["capped"]) == (3, True)
    assert b"3+" in client.get(INBOX, {"tag": refund.pk}).content

    plain = {q["value"]: q for q in client.get(INBOX).context["queues"]}
    assert (plain["new"]["count"], plain["new"]["capped"]) == (5, False)
