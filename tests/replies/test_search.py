"""The composer's endpoints: search (ranking, limit, visibility, query count), the rendered text,
and the template-linked replies offered when the window is closed."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from channels_app.models import MessageTemplate
from tests.factories import (
    ContactFactory,
    ConversationFactory,
    SavedReplyFactory,
    TemplateFactory,
)

SEARCH = "/saved-replies/search/"


@pytest.fixture
def conversation(cast):
    return ConversationFactory(
        channel=cast.channel, contact=ContactFactory(profile_name="Dana Kim")
    )


def _search(client, conversation, q):
    response = client.get(SEARCH, {"q": q, "conversation": conversation.pk})
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_shortcut_prefix_matches_come_first_then_title_then_body(client, cast, conversation):
    SavedReplyFactory(shortcut="delivery", title="Where is my parcel", body="Tracking link.")
    SavedReplyFactory(shortcut="late", title="Late delivery apology", body="Sorry.")
    SavedReplyFactory(shortcut="thanks", title="Thank you", body="About your delivery: done.")
    SavedReplyFactory(shortcut="x-deliver", title="Other", body="Nothing.")
    SavedReplyFactory(shortcut="refund", title="Refund", body="Money back.")
    client.force_login(cast.contributor)
    results = _search(client, conversation, "/Deliver")
    assert [r["shortcut"] for r in results] == ["delivery", "late", "x-deliver", "thanks"]
    first = results[0]
    assert set(first) == {
        "id", "title", "shortcut", "scope", "scope_label", "language", "preview", "body",
    }  # fmt: skip


def test_the_preview_is_rendered_for_the_conversation_and_the_body_is_raw(
    client, cast, conversation
):
    SavedReplyFactory(shortcut="hi", body="Hi {{contact.first_name|there}}, {{agent.first_name}}")
    client.force_login(cast.contributor)
    (result,) = _search(client, conversation, "hi")
    assert result["preview"] == f"Hi Dana, {cast.contributor.first_name}"
    assert result["body"] == "Hi {{contact.first_name|there}}, {{agent.first_name}}"


def test_at_most_ten_results_and_only_visible_ones(client, cast, conversation, replies):
    for i in range(15):
        SavedReplyFactory(shortcut=f"bulk-{i:02d}", title=f"Bulk {i}")
    client.force_login(cast.contributor)
    results = _search(client, conversation, "bulk")
    assert [r["shortcut"] for r in results] == [f"bulk-{i:02d}" for i in range(10)]
    everything = {r["shortcut"] for r in _search(client, conversation, "")}
    assert "private" not in everything and "night" not in everything
    assert _search(client, conversation, "private") == []
    assert _search(client, conversation, "sam") == []  # another user's title


def test_percent_and_underscore_are_plain_characters(client, cast, conversation):
    SavedReplyFactory(shortcut="discount", title="20% off", body="x")
    SavedReplyFactory(shortcut="other", title="200 boxes", body="x")
    client.force_login(cast.contributor)
    assert [r["shortcut"] for r in _search(client, conversation, "20%")] == ["discount"]


def test_replies_in_the_agents_language_come_before_others(client, cast, conversation):
    SavedReplyFactory(shortcut="greet-de", title="Begrüßung", body="Hallo", language="de")
    SavedReplyFactory(shortcut="greet-en", title="Greeting", body="Hello", language="en")
    client.force_login(cast.contributor)
    assert [r["shortcut"] for r in _search(client, conversation, "greet")] == [
        "greet-en", "greet-de",
    ]  # fmt: skip
    client.cookies["django_language"] = "de"
    assert [r["shortcut"] for r in _search(client, conversation, "greet")] == [
        "greet-de", "greet-en",
    ]  # fmt: skip


def test_search_runs_in_a_constant_number_of_queries(
    client, cast, conversation, django_assert_num_queries
):
    hidden = ConversationFactory(channel=cast.other_channel)
    for i in range(30):
        SavedReplyFactory(shortcut=f"s{i}", body="Hi {{contact.first_name}}")
    client.force_login(cast.contributor)
    client.get(SEARCH, {"q": "s", "conversation": hidden.pk})  # warm the session
    # What any request that loads a conversation costs before the search: session, user, the
    # admin-permission check (its statements depend on the auth backends), the conversation
    # with the user's role. An invisible conversation stops there (404).
    with CaptureQueriesContext(connection) as base:
        assert client.get(SEARCH, {"q": "s", "conversation": hidden.pk}).status_code == 404
    # The search itself is one more statement, however many replies there are.
    with django_assert_num_queries(len(base) + 1):
        assert len(_search(client, conversation, "s")) == 10
    for i in range(30, 60):
        SavedReplyFactory(shortcut=f"s{i}", body="Hi {{contact.first_name}}")
    with django_assert_num_queries(len(base) + 1):
        assert len(_search(client, conversation, "s")) == 10
    # Without a conversation: the replier check instead of the conversation.
    with django_assert_num_queries(len(base) + 1):
        assert client.get(SEARCH, {"q": "s"}).status_code == 200


def test_a_viewer_and_an_invisible_conversation_are_refused(client, cast, conversation):
    hidden = ConversationFactory(channel=cast.other_channel)
    client.force_login(cast.viewer)
    response = client.get(SEARCH, {"q": "", "conversation": conversation.pk})
    assert response.status_code == 403
    assert response.json() == {
        "error": "Your role on this channel does not allow replying to customers."
    }
    client.force_login(cast.contributor)
    response = client.get(SEARCH, {"q": "", "conversation": hidden.pk})
    assert (response.status_code, response.json()) == (404, {"error": "No such conversation."})
    response = client.get(SEARCH, {"q": "", "conversation": "12abc"})
    assert response.status_code == 400


def test_anonymous_search_is_a_401(client, conversation):
    assert client.get(SEARCH, {"q": "x"}).status_code == 401


def test_the_rendered_text_fills_every_placeholder(client, cast, conversation, replies):
    reply = SavedReplyFactory(
        shortcut="sign",
        body="Hi {{contact.first_name|there}},\n\n{{agent.name}}\n{{channel.name}} 100%",
    )
    client.force_login(cast.contributor)
    url = reverse("replies:rendered", args=[reply.pk])
    data = client.get(url, {"conversation": conversation.pk}).json()
    assert data["body"] == f"Hi Dana,\n\n{cast.contributor.get_full_name()}\nAcme Support 100%"
    conversation.contact.profile_name = ""
    conversation.contact.save()
    assert client.get(url, {"conversation": conversation.pk}).json()["body"].startswith(
        "Hi there,"
    )
    other = reverse("replies:rendered", args=[replies.theirs.pk])
    assert client.get(other, {"conversation": conversation.pk}).status_code == 404
    assert client.get(url).status_code == 400


def test_a_closed_window_offers_saved_replies_linked_to_approved_templates(client, cast):
    conversation = ConversationFactory(
        channel=cast.channel,
        contact=ContactFactory(profile_name="Dana Kim"),
        last_customer_message_at=timezone.now() - timedelta(hours=30),
    )
    template = TemplateFactory(channel=cast.channel, name="order_update")
    paused = TemplateFactory(
        channel=cast.channel, name="old_promo", status=MessageTemplate.Status.PAUSED
    )
    linked = SavedReplyFactory(
        shortcut="order",
        title="Order news",
        template=template,
        template_params="{{contact.first_name|there}}",
    )
    SavedReplyFactory(shortcut="promo", template=paused)
    SavedReplyFactory(
        scope="personal", owner=cast.supervisor, shortcut="sams", template=template
    )
    client.force_login(cast.contributor)
    html = client.get(reverse("conversations:detail", args=[conversation.pk])).content.decode()
    assert f'id="saved-reply-template-{linked.pk}"' in html
    assert "Order news" in html and "/order" in html
    assert 'name="param_1" value="Dana"' in html
    assert 'name="param_2" value=""' in html
    assert "/promo" not in html and "/sams" not in html
    # The offer is an ordinary template send.
    response = client.post(
        reverse("conversations:send_template", args=[conversation.pk]),
        {"template": template.pk, "param_1": "Dana", "param_2": "4471"},
    )
    assert response.status_code == 302
    assert conversation.messages.get().body == "Hi Dana, your order 4471 has an update."


def test_an_open_window_shows_the_picker_and_no_template_offer(client, cast, conversation):
    SavedReplyFactory(shortcut="order", template=TemplateFactory(channel=cast.channel))
    client.force_login(cast.contributor)
    html = client.get(reverse("conversations:detail", args=[conversation.pk])).content.decode()
    assert "data-saved-replies" in html and "sr-picker-button" in html
    assert "saved-reply-template-" not in html
