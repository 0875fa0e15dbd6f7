"""The inbox's bulk actions (through the services, the single action's capability check, one
event each) and the rows' answer state (who wrote last, since when, unread per agent)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from channels_app.transports import InboundMessage
from conversations import services
from conversations.models import Conversation, Event
from realtime import answers
from tests.factories import ConversationFactory, TagFactory

pytestmark = pytest.mark.django_db

BULK = reverse("realtime:bulk")


def test_bulk_resolve_writes_one_event_each_and_says_what_it_did(client, cast):
    mine = [ConversationFactory(channel=cast.channel) for _ in range(3)]
    hidden = ConversationFactory(channel=cast.other_channel)
    client.force_login(cast.viewer)  # a Viewer may triage
    response = client.post(
        BULK,
        {"ids": [c.pk for c in mine] + [hidden.pk], "action": "resolved", "next": "/inbox/"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == "/inbox/"
    text = response.content.decode()
    assert "3 conversations changed." in text
    assert f"#{hidden.pk} does not exist" in text
    for conversation in mine:
        conversation.refresh_from_db()
        assert conversation.status == Conversation.Status.RESOLVED
        assert (
            Event.objects.filter(
                conversation=conversation, kind=Event.Kind.STATUS_CHANGED, actor=cast.viewer
            ).count()
            == 1
        )
    hidden.refresh_from_db()
    assert hidden.status == Conversation.Status.NEW


def test_bulk_assign_needs_the_assign_capability_for_each_conversation(client, cast):
    conversation = ConversationFactory(channel=cast.channel)
    client.force_login(cast.viewer)
    answer = client.post(
        BULK,
        {"ids": [conversation.pk], "action": "assign_me"},
        HTTP_ACCEPT="application/json",
    ).json()
    assert answer["done"] == 0
    assert "assigning" in answer["refused"][0]
    conversation.refresh_from_db()
    assert conversation.assignee is None

    client.force_login(cast.contributor)
    answer = client.post(
        BULK, {"ids": [conversation.pk], "action": "assign_me"}, HTTP_ACCEPT="application/json"
    ).json()
    assert answer == {"done": 1, "refused": [], "message": "1 conversation changed."}
    conversation.refresh_from_db()
    assert conversation.assignee == cast.contributor


def test_bulk_tag_and_bad_input(client, cast):
    conversation = ConversationFactory(channel=cast.channel)
    tag = TagFactory(name="vip")
    client.force_login(cast.contributor)
    client.post(BULK, {"ids": [conversation.pk], "action": "tag", "tag": tag.pk})
    assert list(conversation.tags.all()) == [tag]
    refused = client.post(
        BULK, {"ids": [conversation.pk], "action": "tag"}, HTTP_ACCEPT="application/json"
    )
    assert refused.status_code == 400 and "tag" in refused.json()["error"]
    refused = client.post(
        BULK, {"ids": ["x"], "action": "resolved"}, HTTP_ACCEPT="application/json"
    )
    assert refused.status_code == 400
    refused = client.post(BULK, {"action": "resolved"}, HTTP_ACCEPT="application/json")
    assert refused.status_code == 400
    assert client.get(BULK).status_code == 405


def _inbound(channel, wa_id, wamid, at):
    message, _created = services.receive_inbound(
        channel=channel,
        message=InboundMessage(
            wa_id=wa_id,
            provider_message_id=wamid,
            sent_at=at,
            type="text",
            body=wamid,
        ),
        now=at,
    )  # fmt: skip
    return Conversation.objects.get(pk=message.conversation_id), message


def test_who_wrote_last_since_when_and_unread_per_agent(client, cast):
    # Through the services, which keep the conversation's waiting_since (answers reads it).
    now = timezone.now()
    waiting, _ = _inbound(cast.channel, "4915100000001", "hi", now - timedelta(hours=2))
    services.reply(waiting, author=cast.contributor, body="hello", now=now - timedelta(hours=1))
    _, first_unanswered = _inbound(
        cast.channel, "4915100000001", "still there?", now - timedelta(minutes=30)
    )
    waiting, _ = _inbound(cast.channel, "4915100000001", "??", now - timedelta(minutes=5))
    answered, _ = _inbound(cast.channel, "4915100000002", "hi 2", now - timedelta(minutes=9))
    services.reply(answered, author=cast.contributor, body="done", now=now - timedelta(minutes=8))

    states = answers.states([waiting, answered], cast.contributor)
    assert states[waiting.pk].last_from == answers.CUSTOMER
    assert states[waiting.pk].waiting_since == first_unanswered.created_at
    assert states[waiting.pk].unread is True
    assert states[answered.pk] == answers.State(answers.DESK, None, False)

    client.force_login(cast.contributor)
    assert client.post(reverse("realtime:read", args=[waiting.pk])).status_code == 204
    assert answers.states([waiting], cast.contributor)[waiting.pk].unread is False
    assert answers.states([waiting], cast.supervisor)[waiting.pk].unread is True  # per agent
    client.force_login(cast.outsider)
    assert client.post(reverse("realtime:read", args=[waiting.pk])).status_code == 404
