"""The conversation page and its POST actions, through HTTP, for every persona."""

import re
from datetime import timedelta
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from conversations import queries
from conversations.models import Conversation, Event, Message, Note
from tests.factories import (
    ContactFactory,
    ConversationFactory,
    EventFactory,
    MessageFactory,
    NoteFactory,
    TagFactory,
    TemplateFactory,
    TopicFactory,
)

S = Conversation.Status


@pytest.fixture
def dispatched(monkeypatch):
    from conversations.tasks import dispatch_message

    ids = []
    monkeypatch.setattr(dispatch_message, "delay", ids.append)
    return ids


@pytest.fixture
def conv(cast):
    now = timezone.now()
    return ConversationFactory(
        channel=cast.channel,
        opened_at=now - timedelta(hours=1),
        last_customer_message_at=now - timedelta(minutes=30),
    )


def url(name, conv):
    return reverse(f"conversations:{name}", args=[conv.pk])


def test_contributor_sees_the_thread_and_the_open_window(client, cast, conv):
    MessageFactory(conversation=conv, body="Where is my parcel?")
    out = MessageFactory(
        conversation=conv,
        direction=Message.Direction.OUTBOUND,
        author=cast.contributor,
        body="Checking",
        delivery=Message.Delivery.FAILED,
        failure_reason="Number not on WhatsApp",
    )
    NoteFactory(conversation=conv, body="VIP customer", author=cast.supervisor)
    client.force_login(cast.contributor)
    response = client.get(url("detail", conv))
    html = response.content.decode()

    assert response.status_code == 200
    assert "Where is my parcel?" in html
    assert f'id="message-{out.pk}"' in html
    assert "Number not on WhatsApp" in html
    assert "VIP customer" in html
    assert 'id="reply-box"' in html
    assert "Reply window open until" in html


def test_the_assign_picker_offers_only_users_who_can_reply(client, cast, conv):
    client.force_login(cast.contributor)
    html = client.get(url("detail", conv)).content.decode()
    start = html.index('id="id_assignee_pick"')
    picker = html[start : html.index("</select>", start)]
    for user in (cast.supervisor, cast.team_contributor, cast.admin):
        assert f'value="{user.pk}"' in picker
    for user in (cast.viewer, cast.outsider):
        assert f'value="{user.pk}"' not in picker


def test_viewer_gets_no_assign_picker_and_a_403_that_says_why(client, cast, conv):
    client.force_login(cast.viewer)
    assert 'id="id_assignee_pick"' not in client.get(url("detail", conv)).content.decode()
    response = client.post(url("assign", conv), {"assignee": "me"})
    assert response.status_code == 403
    assert "Contributor role or higher" in response.content.decode()
    assert Conversation.objects.get().assignee is None


def test_viewer_sees_no_reply_box(client, cast, conv):
    client.force_login(cast.viewer)
    html = client.get(url("detail", conv)).content.decode()
    assert 'id="reply-box"' not in html
    assert 'id="no-reply-role"' in html
    assert 'id="note-form"' in html  # Viewers may still annotate


def test_closed_window_offers_the_approved_templates_instead_of_free_text(client, cast):
    conv = ConversationFactory(
        channel=cast.channel, last_customer_message_at=timezone.now() - timedelta(hours=25)
    )
    TemplateFactory(channel=cast.channel, name="order_update")
    TemplateFactory(channel=cast.channel, name="draft_one", status="PENDING")
    TemplateFactory(channel=cast.other_channel, name="elsewhere")
    client.force_login(cast.contributor)
    html = client.get(url("detail", conv)).content.decode()

    assert 'id="window-closed"' in html
    assert 'id="reply-box"' not in html
    assert "order_update" in html
    assert "draft_one" not in html and "elsewhere" not in html
    assert 'name="param_1"' in html and 'name="param_2"' in html


def test_outsider_gets_404_on_a_conversation_of_another_channel(client, cast, conv):
    client.force_login(cast.outsider)
    assert client.get(url("detail", conv)).status_code == 404
    assert client.post(url("reply", conv), {"body": "hi"}).status_code == 404
    assert client.post(url("move", conv), {"to": "resolved"}).status_code == 404
    assert Message.objects.count() == 0


def test_missing_conversation_is_the_same_404(client, cast):
    client.force_login(cast.outsider)
    missing = client.get(reverse("conversations:detail", args=[999999]))
    ConversationFactory(channel=cast.channel)
    assert missing.status_code == 404


def test_anonymous_user_is_sent_to_login(client, conv):
    response = client.get(url("detail", conv))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_viewer_post_of_a_reply_is_403_and_nothing_is_stored_or_sent(
    client, cast, conv, dispatched, django_capture_on_commit_callbacks
):
    client.force_login(cast.viewer)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(url("reply", conv), {"body": "Let me help"})
    assert response.status_code == 403
    assert "does not allow replying" in response.content.decode()
    assert Message.objects.count() == 0
    assert callbacks == []
    assert dispatched == []


def test_contributor_reply_is_stored_queued_and_enqueued_after_commit(
    client, cast, conv, dispatched, django_capture_on_commit_callbacks
):
    client.force_login(cast.contributor)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url("reply", conv), {"body": "On its way"})
    assert response.status_code == 302
    assert response["Location"] == url("detail", conv)
    message = Message.objects.get()
    assert (message.body, message.delivery, message.author) == (
        "On its way",
        Message.Delivery.QUEUED,
        cast.contributor,
    )
    assert dispatched == [message.id]
    assert Conversation.objects.get().assignee == cast.contributor


def test_team_contributor_can_reply(client, cast, conv, dispatched):
    client.force_login(cast.team_contributor)
    assert client.post(url("reply", conv), {"body": "Team here"}).status_code == 302
    assert Message.objects.filter(author=cast.team_contributor).count() == 1


def test_free_text_after_the_window_is_refused_with_a_message(client, cast, dispatched):
    conv = ConversationFactory(
        channel=cast.channel, last_customer_message_at=timezone.now() - timedelta(hours=25)
    )
    client.force_login(cast.contributor)
    response = client.post(url("reply", conv), {"body": "hello?"}, follow=True)
    assert "24-hour window" in response.content.decode()
    assert Message.objects.count() == 0
    assert dispatched == []


def test_domain_error_over_htmx_is_a_400_with_the_reason(client, cast):
    conv = ConversationFactory(
        channel=cast.channel, last_customer_message_at=timezone.now() - timedelta(hours=25)
    )
    client.force_login(cast.contributor)
    response = client.post(url("reply", conv), {"body": "hello?"}, headers={"HX-Request": "true"})
    assert response.status_code == 400
    assert "24-hour window" in response.content.decode()


def test_template_send_through_the_page(client, cast, dispatched):
    conv = ConversationFactory(
        channel=cast.channel, last_customer_message_at=timezone.now() - timedelta(hours=25)
    )
    template = TemplateFactory(channel=cast.channel)
    client.force_login(cast.contributor)
    response = client.post(
        url("send_template", conv), {"template": template.pk, "param_1": "Dana", "param_2": "44"}
    )
    assert response.status_code == 302
    message = Message.objects.get()
    assert message.body == "Hi Dana, your order 44 has an update."
    assert message.sent_outside_window


def test_template_of_another_channel_cannot_be_sent_by_id(client, cast, dispatched):
    conv = ConversationFactory(channel=cast.channel, last_customer_message_at=None)
    foreign = TemplateFactory(channel=cast.other_channel)
    client.force_login(cast.contributor)
    client.post(
        url("send_template", conv), {"template": foreign.pk, "param_1": "a", "param_2": "b"}
    )
    assert Message.objects.count() == 0


def test_get_on_an_action_is_405(client, cast, conv):
    client.force_login(cast.contributor)
    for name in ["reply", "send_template", "move", "assign", "tag", "topic", "note"]:
        assert client.get(url(name, conv)).status_code == 405


def test_viewer_moves_to_pending_and_resolved(client, cast, conv):
    client.force_login(cast.viewer)
    assert client.post(url("move", conv), {"to": "pending"}).status_code == 302
    assert Conversation.objects.get().status == S.PENDING
    client.post(url("move", conv), {"to": "resolved"})
    assert Conversation.objects.get().status == S.RESOLVED


def test_move_with_a_bad_status_is_refused_without_a_change(client, cast, conv):
    client.force_login(cast.viewer)
    response = client.post(url("move", conv), {"to": "archived"}, follow=True)
    assert response.status_code == 200
    assert Conversation.objects.get().status == S.NEW


def test_assign_to_me_to_a_colleague_and_unassign(client, cast, conv):
    client.force_login(cast.supervisor)
    client.post(url("assign", conv), {"assignee": "me"})
    assert Conversation.objects.get().assignee == cast.supervisor
    client.post(url("assign", conv), {"assignee": str(cast.contributor.pk)})
    assert Conversation.objects.get().assignee == cast.contributor
    for nobody in (cast.outsider, cast.viewer):
        response = client.post(url("assign", conv), {"assignee": str(nobody.pk)})
        assert response.status_code == 400
        assert "cannot reply on this channel" in response.content.decode()
        assert Conversation.objects.get().assignee == cast.contributor
    client.post(url("assign", conv), {"assignee": ""})
    assert Conversation.objects.get().assignee is None


def test_tag_topic_and_note_through_the_page(client, cast, conv):
    tag, topic = TagFactory(name="vip"), TopicFactory(name="Returns")
    client.force_login(cast.viewer)
    client.post(url("tag", conv), {"action": "add", "id": tag.pk})
    client.post(url("topic", conv), {"action": "add", "id": topic.pk})
    client.post(url("note", conv), {"body": "Handle with care"})
    assert list(conv.tags.all()) == [tag] and list(conv.topics.all()) == [topic]
    assert Note.objects.get().body == "Handle with care"
    client.post(url("tag", conv), {"action": "remove", "id": tag.pk})
    assert not conv.tags.exists()
    assert client.post(url("tag", conv), {"action": "add", "id": 99999}).status_code == 302
    html = client.get(url("detail", conv)).content.decode()
    assert "Tag “vip” added" in html and "Tag “vip” removed" in html


def test_next_parameter_only_redirects_locally(client, cast, conv):
    client.force_login(cast.viewer)
    response = client.post(url("move", conv), {"to": "pending", "next": "https://evil.example/"})
    assert response["Location"] == url("detail", conv)
    response = client.post(url("move", conv), {"to": "new", "next": "/inbox/?status=new"})
    assert response["Location"] == "/inbox/?status=new"


def test_earlier_conversations_of_the_contact_are_listed_as_history(client, cast):
    contact = ContactFactory()
    old = ConversationFactory(
        channel=cast.channel, contact=contact, status=S.RESOLVED, last_message_preview="old issue"
    )
    hidden = ConversationFactory(channel=cast.other_channel, contact=contact, status=S.RESOLVED)
    current = ConversationFactory(channel=cast.channel, contact=contact)
    client.force_login(cast.viewer)
    html = client.get(url("detail", current)).content.decode()
    assert reverse("conversations:detail", args=[old.pk]) in html
    assert reverse("conversations:detail", args=[hidden.pk]) not in html


def _grow(conv, cast, *, messages, notes, events, tags):
    for i in range(messages):
        MessageFactory(
            conversation=conv,
            direction=Message.Direction.OUTBOUND if i % 2 else Message.Direction.INBOUND,
            author=cast.contributor if i % 2 else None,
        )
    for _ in range(notes):
        NoteFactory(conversation=conv, author=cast.supervisor)
    for _ in range(events):
        EventFactory(conversation=conv, actor=cast.viewer, kind=Event.Kind.NOTE_ADDED)
    for i in range(tags):
        conv.tags.add(TagFactory(name=f"t{conv.pk}-{i}"))
        conv.topics.add(TopicFactory(name=f"Topic {conv.pk}-{i}"))
    for _ in range(events // 5):
        ConversationFactory(channel=cast.channel, contact=conv.contact, status=S.RESOLVED)


@pytest.mark.parametrize("closed_window", [False, True])
def test_conversation_page_query_count_is_constant(
    client, cast, django_assert_num_queries, closed_window, settings
):
    last = timezone.now() - timedelta(hours=30 if closed_window else 1)
    small = ConversationFactory(channel=cast.channel, last_customer_message_at=last)
    big = ConversationFactory(channel=cast.channel, last_customer_message_at=last)
    _grow(small, cast, messages=2, notes=1, events=1, tags=1)
    _grow(big, cast, messages=500, notes=40, events=60, tags=8)
    TemplateFactory(channel=cast.channel)
    client.force_login(cast.contributor)
    client.get(url("detail", small))  # warm the session

    # session, user, admin-permission check, conversation with its channel role, messages,
    # notes, tags and topics (one query, each marked on/off), events, history (the contact's
    # other conversations are all on this channel: no role to read), assignable users
    # (+templates, +the saved replies linked to them), whether the top bar links the reports (a
    # Supervisor role anywhere), its SLA clocks (service_levels' sla_state tag)
    # + the top bar's availability (routing: one a page)
    # + the customer's marketing consent card (automations' optout_card: one).
    # The latest page holds every reaction to its messages; an older page reads them (one more:
    # conversations.thread_extras).
    expected = 16 if closed_window else 14
    with django_assert_num_queries(expected):
        assert client.get(url("detail", small)).status_code == 200
    with django_assert_num_queries(expected):
        response = client.get(url("detail", big))
    html = response.content.decode()
    assert len(_thread_ids(html)) == settings.THREAD_PAGE_SIZE
    # An older page of the 500-message thread costs the same, plus the reactions' read.
    with django_assert_num_queries(expected + 1):
        older = client.get(_earlier_href(html))
    assert len(_thread_ids(older.content.decode())) == settings.THREAD_PAGE_SIZE


# --- thread pages ------------------------------------------------------------------------------

_ITEM = re.compile(r'<li class="(?:msg dir-\w+|note)" id="((?:message|note)-\d+)"')


def _thread_ids(html: str) -> list[str]:
    return _ITEM.findall(html)


def _href(html: str, marker: str) -> str | None:
    found = re.search(r'href="([^"]+)"[^>]*' + marker, html)
    return unescape(found.group(1)) if found else None


def _earlier_href(html: str) -> str | None:
    return _href(html, "data-thread-earlier")


def _later_href(html: str) -> str | None:
    found = re.search(r'id="thread-later"><a class="button" href="([^"]+)"', html)
    return unescape(found.group(1)) if found else None


@pytest.fixture
def busy_thread(cast):
    """17 messages and 6 notes; several share a timestamp, across and within the two kinds."""
    conv = ConversationFactory(channel=cast.channel)
    start = timezone.now() - timedelta(days=2)
    order = []
    for i in range(17):
        at = start + timedelta(minutes=i // 3)  # three messages per minute
        m = MessageFactory(conversation=conv, created_at=at, body=f"m{i}")
        order.append(("message", at, m.pk))
    for i in range(6):
        at = start + timedelta(minutes=i)  # the same instants as messages
        n = NoteFactory(conversation=conv, created_at=at, author=cast.supervisor, body=f"n{i}")
        order.append(("note", at, n.pk))
    # The page's order: time, then messages before notes, then id.
    order.sort(key=lambda row: (row[1], row[0] == "note", row[2]))
    return conv, [f"{kind}-{pk}" for kind, _at, pk in order]


def test_latest_page_shows_the_newest_items_oldest_first(client, cast, busy_thread, settings):
    settings.THREAD_PAGE_SIZE = 5
    conv, expected = busy_thread
    client.force_login(cast.viewer)
    html = client.get(url("detail", conv)).content.decode()
    assert _thread_ids(html) == expected[-5:]
    assert "Earlier messages" in html
    assert 'id="thread-later"' not in html  # already the latest


def test_earlier_links_walk_the_whole_thread_once_without_gaps(client, cast, busy_thread, settings):
    settings.THREAD_PAGE_SIZE = 4
    conv, expected = busy_thread
    client.force_login(cast.viewer)
    seen, target, pages = [], url("detail", conv), 0
    while target:
        html = client.get(target).content.decode()
        seen[:0] = _thread_ids(html)
        target = _earlier_href(html)
        pages += 1
    assert seen == expected
    assert pages == 6  # 23 items, 4 a page
    # And forward again from the oldest page through "Newer messages".
    forward, target = [], _later_href(html)
    forward.extend(_thread_ids(html))
    while target:
        html = client.get(target).content.decode()
        forward.extend(_thread_ids(html))
        target = _later_href(html)
    assert forward == expected


def test_a_link_to_an_old_message_reaches_it(client, cast, busy_thread, settings):
    settings.THREAD_PAGE_SIZE = 5
    conv, expected = busy_thread
    old = expected[4]
    assert old.startswith("message-")
    client.force_login(cast.viewer)
    html = client.get(url("detail", conv), {"around": old.split("-")[1]}).content.decode()
    assert _thread_ids(html) == expected[4:9]
    assert _earlier_href(html) and _later_href(html)
    # A message of another conversation is no way in: the latest page is shown.
    other = MessageFactory(conversation=ConversationFactory(channel=cast.channel))
    html = client.get(url("detail", conv), {"around": other.pk}).content.decode()
    assert _thread_ids(html) == expected[-5:]


@pytest.mark.parametrize(
    "bad", ["nope", "2026-01-01T00:00:00~m5", "2026-01-01T00:00:00+00:00~x5", "~", "x~m-1"]
)
def test_a_malformed_cursor_shows_the_latest_page(client, cast, busy_thread, settings, bad):
    settings.THREAD_PAGE_SIZE = 5
    conv, expected = busy_thread
    client.force_login(cast.viewer)
    for key in ("before", "after"):
        response = client.get(url("detail", conv), {key: bad})
        assert response.status_code == 200
        assert _thread_ids(response.content.decode()) == expected[-5:]


def test_thread_fragment_is_only_the_items_and_keeps_the_access_check(
    client, cast, busy_thread, settings, django_assert_num_queries
):
    settings.THREAD_PAGE_SIZE = 5
    conv, expected = busy_thread
    client.force_login(cast.viewer)
    earlier = _earlier_href(client.get(url("detail", conv)).content.decode())
    # session, user, admin-permission check, conversation with its channel role, messages, notes,
    # the reactions on the page's messages
    with django_assert_num_queries(7):
        response = client.get(earlier + "&fragment=thread")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and 'id="reply-box"' not in html
    assert _thread_ids(html) == expected[-10:-5]
    assert _earlier_href(html)
    client.force_login(cast.outsider)
    assert client.get(earlier + "&fragment=thread").status_code == 404


def test_history_panel_shows_the_latest_entries_and_links_to_all(client, cast, conv):
    start = timezone.now() - timedelta(days=1)
    for i in range(queries.EVENT_PAGE + 5):
        EventFactory(
            conversation=conv,
            kind=Event.Kind.TAG_ADDED,
            data={"name": f"label{i:02d}"},
            created_at=start + timedelta(minutes=i),
        )
    client.force_login(cast.viewer)
    html = client.get(url("detail", conv)).content.decode()
    assert "label24" in html and "label05" in html and "label04" not in html
    assert "Show the whole history" in html
    html = client.get(url("detail", conv), {"history": "all"}).content.decode()
    assert "label00" in html and "Show the whole history" not in html


# --- labels ------------------------------------------------------------------------------------


def test_the_page_shows_its_labels_as_chips_and_the_others_in_the_pickers(client, cast):
    conv = ConversationFactory(channel=cast.channel)
    carried_tag, carried_topic = TagFactory(name="refund"), TopicFactory(name="Delivery")
    for name in ("vip", "billing"):
        TagFactory(name=name)
    TopicFactory(name="Account")
    conv.tags.add(carried_tag)
    conv.topics.add(carried_topic)
    other = ConversationFactory(channel=cast.channel)
    other.tags.add(TagFactory(name="urgent"))  # another conversation's tag is no chip here
    client.force_login(cast.contributor)

    html = client.get(url("detail", conv)).content.decode()

    chips = re.findall(r'<span class="(?:tag|topic)"[^>]*>([^<]+)</span>', html)
    assert chips == ["refund", "Delivery"]
    tag_picker = re.search(r'<select name="id" id="id_add_tag">(.*?)</select>', html).group(1)
    topic_picker = re.search(r'<select name="id" id="id_add_topic">(.*?)</select>', html).group(1)
    assert re.findall(r">([^<]+)</option>", tag_picker) == ["billing", "urgent", "vip"]
    assert re.findall(r">([^<]+)</option>", topic_picker) == ["Account"]
