"""Conversation.waiting_since (issue 15): since when the customer waits for the desk's answer,
kept by the writers, and the inbox's "longest waiting first" sort built on it.

The inbound path is the one statement on PostgreSQL and the ORM on SQLite (the suite runs on
both; tests/conversations/test_rules_property.py compares the two paths' rows, this column too).
"""

import importlib
from datetime import timedelta
from urllib.parse import parse_qsl

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone, translation

from channels_app.transports import InboundMessage
from conversations import services
from conversations.models import Conversation, Message
from conversations.services.system_messages import send_system_message
from realtime import answers
from tests.factories import ConversationFactory, MessageFactory, UserFactory

S = Conversation.Status
INBOX = reverse("conversations:inbox")
T0 = timezone.now().replace(microsecond=0) - timedelta(hours=1)
MINUTE = timedelta(minutes=1)


def _inbound(channel, wamid, at, wa_id="4915100000001"):
    message, _created = services.receive_inbound(
        channel=channel,
        message=InboundMessage(
            wa_id=wa_id,
            provider_message_id=wamid,
            sent_at=at,
            type="text",
            body=f"text {wamid}",
        ),
        now=at,
    )  # fmt: skip
    return Conversation.objects.get(pk=message.conversation_id)


def test_the_oldest_unanswered_message_counts_and_an_agents_reply_clears_it(cast):
    conversation = _inbound(cast.channel, "wamid.w1", T0)
    assert conversation.waiting_since == T0
    conversation = _inbound(cast.channel, "wamid.w2", T0 + timedelta(minutes=3))
    assert conversation.waiting_since == T0  # still waiting since the first one

    services.reply(conversation, author=cast.contributor, body="Hi!", now=T0 + timedelta(minutes=5))
    conversation.refresh_from_db()
    assert conversation.waiting_since is None

    conversation = _inbound(cast.channel, "wamid.w3", T0 + timedelta(minutes=7))
    assert conversation.waiting_since == T0 + timedelta(minutes=7)


def test_a_system_message_answers_nobody(cast):
    conversation = _inbound(cast.channel, "wamid.s1", T0)
    send_system_message(conversation, body="We are closed", now=T0 + timedelta(minutes=1))
    conversation.refresh_from_db()
    assert conversation.waiting_since == T0
    answers.states([conversation])
    assert conversation.answer.last_from == answers.CUSTOMER
    assert conversation.answer.waiting_since == T0


def _waiting(channel, minutes, **kw):
    at = T0 + timedelta(minutes=minutes) if minutes is not None else None
    return ConversationFactory(
        channel=channel, opened_at=T0, last_activity_at=T0 + timedelta(minutes=90 - (minutes or 0)),
        waiting_since=at, **kw,
    )  # fmt: skip


def _ids(response):
    return [c.pk for c in response.context["page"].rows]


def test_longest_waiting_first_puts_the_answered_last_and_pages_through(client, cast, settings):
    settings.INBOX_PAGE_SIZE = 2
    answered_a = _waiting(cast.channel, None)
    late = _waiting(cast.channel, 30)
    early = _waiting(cast.channel, 1)
    answered_b = _waiting(cast.channel, None)
    middle = _waiting(cast.channel, 10)
    _waiting(cast.channel, 0, status=S.PENDING)  # another queue
    client.force_login(cast.contributor)

    seen, query = [], {"sort": "waiting"}
    while True:
        response = client.get(INBOX, query)
        assert response.status_code == 200
        seen += _ids(response)
        older = response.context["older_query"]
        if older is None:
            break
        query = dict(parse_qsl(older))
    assert seen == [early.pk, middle.pk, late.pk, answered_a.pk, answered_b.pk]

    # The default stays newest activity first.
    settings.INBOX_PAGE_SIZE = 10
    newest = _ids(client.get(INBOX))
    assert newest == [answered_b.pk, answered_a.pk, early.pk, middle.pk, late.pk]


def test_the_sort_is_offered_in_english_and_german(client, cast):
    client.force_login(cast.contributor)
    html = client.get(INBOX, {"sort": "waiting"}).content.decode()
    assert '<option value="waiting" selected>Longest waiting first</option>' in html
    assert 'data-sort="waiting"' in html
    with translation.override("de"):
        html = client.get(INBOX, headers={"Accept-Language": "de"}).content.decode()
    assert "Am längsten wartend zuerst" in html


@pytest.mark.parametrize("bad", ["nonsense", "2020-01-01T00:00:00+00:00~x", "answered~"])
def test_a_bad_sort_or_cursor_falls_back_without_error(client, cast, bad):
    _waiting(cast.channel, 5)
    client.force_login(cast.contributor)
    assert client.get(INBOX, {"sort": bad}).status_code == 200
    assert client.get(INBOX, {"sort": "waiting", "cursor": bad}).status_code == 200


def test_the_backfill_follows_the_same_rule(db):
    """Migration 0018's statement: the oldest customer message after the desk's last answer (an
    agent's message; the system's own messages answer nobody), None when answered or silent."""
    backfill = importlib.import_module("conversations.migrations.0018_conversation_waiting_since")
    agent, out = UserFactory(), Message.Direction.OUTBOUND
    waiting, answered, auto_replied, silent = (ConversationFactory() for _ in range(4))
    MessageFactory(conversation=waiting, created_at=T0)
    MessageFactory(conversation=waiting, direction=out, author=agent, created_at=T0 + MINUTE)
    first = MessageFactory(conversation=waiting, created_at=T0 + 2 * MINUTE)
    MessageFactory(conversation=waiting, created_at=T0 + 3 * MINUTE)
    MessageFactory(conversation=answered, created_at=T0)
    MessageFactory(conversation=answered, direction=out, author=agent, created_at=T0 + MINUTE)
    asked = MessageFactory(conversation=auto_replied, created_at=T0)
    MessageFactory(conversation=auto_replied, direction=out, author=None, created_at=T0 + MINUTE)
    with connection.cursor() as cursor:
        cursor.execute(backfill.BACKFILL)
    found = dict(Conversation.objects.values_list("pk", "waiting_since"))
    assert found[waiting.pk] == first.created_at
    assert found[answered.pk] is None
    assert found[auto_replied.pk] == asked.created_at
    assert found[silent.pk] is None
