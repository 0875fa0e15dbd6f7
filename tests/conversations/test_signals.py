"""Every writer of conversation state announces what it wrote (conversations/signals.py), after
its transaction commits, with the right ids; nothing when it rolls back or writes nothing.

The test's transaction never commits, so ``django_capture_on_commit_callbacks(execute=True)``
stands for the commit: a receiver hears nothing until the callbacks run. Runs on SQLite (the ORM
inbound path) and on PostgreSQL (the one-statement inbound path, the SQL auto-resolve batch).
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from channels_app.transports import InboundMessage
from conversations import jobs, services, signals, tasks
from conversations.models import Conversation, Event, Message
from conversations.services import autoresolve, delivery, inbound, message_changes
from tests.factories import (
    ChannelFactory,
    ConversationFactory,
    MessageFactory,
    TagFactory,
    TemplateFactory,
    TopicFactory,
)
from tests.whatsapp.conftest import APP_SECRET, FIXTURES, post_signed

NOW = timezone.now().replace(microsecond=0)
CORPUS = FIXTURES / "corpus"
PNID = "109876543210987"
SIGNALS = {
    "received": signals.message_received,
    "sent": signals.message_sent,
    "message_changed": signals.message_changed,
    "conversation_changed": signals.conversation_changed,
}


@pytest.fixture
def heard():
    """Every announcement as (name, kwargs), in the order the receivers got them."""
    calls: list[tuple[str, dict]] = []
    receivers = []
    for name, signal in SIGNALS.items():

        def receiver(sender, signal=None, _name=name, **kwargs):
            calls.append((_name, kwargs))

        signal.connect(receiver, weak=False)
        receivers.append((signal, receiver))
    yield calls
    for signal, receiver in receivers:
        signal.disconnect(receiver)


@pytest.fixture(autouse=True)
def _no_task_publishing(monkeypatch):
    from conversations.tasks import dispatch_message, download_media

    monkeypatch.setattr(dispatch_message, "delay", lambda *_a, **_k: None)
    monkeypatch.setattr(download_media, "delay", lambda *_a, **_k: None)


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """A context manager: the code inside 'commits' when it ends (its callbacks run)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def inbound_kwargs(wamid: str, *, wa_id: str = "15550001111", at=None, number="") -> dict:
    message = InboundMessage(
        phone_number_id=number,
        wa_id=wa_id,
        profile_name="Dana",
        provider_message_id=wamid,
        sent_at=at or NOW,
        type="text",
        body="Hello",
    )
    return {"message": message, "now": at or NOW}


def only(heard, name):
    return [kwargs for n, kwargs in heard if n == name]


# --- inbound ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_inbound_announces_the_message_and_the_conversation_it_opened(heard, committed):
    """On SQLite the ORM path, on PostgreSQL the one statement: the same announcements."""
    channel = ChannelFactory()
    with committed():
        first, _ = services.receive_inbound(channel=channel, **inbound_kwargs("wamid.1"))
        assert heard == []  # nothing before the commit
    assert heard == [
        (
            "received",
            {
                "message_ids": [first.pk],
                "created_conversation_ids": [first.conversation_id],
                "reopened_conversation_ids": [],
            },
        )
    ]
    heard.clear()
    with committed():
        second, _ = services.receive_inbound(channel=channel, **inbound_kwargs("wamid.2"))
        services.receive_inbound(channel=channel, **inbound_kwargs("wamid.2"))  # redelivery
    assert heard == [
        (
            "received",
            {
                "message_ids": [second.pk],
                "created_conversation_ids": [],
                "reopened_conversation_ids": [],
            },
        )
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["orm", "default"])
def test_a_customer_answering_a_pending_conversation_reopens_it(heard, committed, path, cast):
    conversation = ConversationFactory(channel=cast.channel, status=Conversation.Status.PENDING)
    contact = conversation.contact
    kwargs = inbound_kwargs("wamid.p", wa_id=contact.wa_id)
    with committed():
        if path == "orm":
            message, _ = inbound._receive_through_orm(channel=cast.channel, **kwargs)
        else:
            message, _ = services.receive_inbound(channel=cast.channel, **kwargs)
    assert message.conversation_id == conversation.pk
    assert only(heard, "received") == [
        {
            "message_ids": [message.pk],
            "created_conversation_ids": [],
            "reopened_conversation_ids": [conversation.pk],
        }
    ]


@pytest.mark.django_db
def test_the_inbound_statement_announces_on_postgresql(heard, committed, on_postgres):
    channel = ChannelFactory(phone_number_id=PNID)
    with committed():
        message, created = services.receive_inbound_at_number(
            **inbound_kwargs("wamid.sql", number=PNID)
        )
    assert created
    assert only(heard, "received")[0]["created_conversation_ids"] == [message.conversation_id]
    assert message.channel_id == channel.pk


@pytest.mark.django_db
def test_nothing_is_announced_when_the_transaction_rolls_back(heard, committed, cast):
    conversation = ConversationFactory(
        channel=cast.channel, last_customer_message_at=NOW - timedelta(minutes=5)
    )
    with committed(), pytest.raises(RuntimeError), transaction.atomic():
        services.receive_inbound(channel=cast.channel, **inbound_kwargs("wamid.rb"))
        services.reply(conversation, author=cast.contributor, body="Hi", now=NOW)
        services.move_conversation(conversation, to="pending", actor=cast.supervisor)
        raise RuntimeError("rolled back")
    assert heard == []
    assert not Message.objects.filter(provider_message_id="wamid.rb").exists()


# --- outbound and delivery ----------------------------------------------------------------------


@pytest.mark.django_db
def test_a_reply_announces_the_message_and_the_auto_assignment(heard, committed, cast):
    cast.channel.auto_assign = True
    cast.channel.save(update_fields=["auto_assign"])
    conversation = ConversationFactory(
        channel=cast.channel, last_customer_message_at=NOW - timedelta(minutes=5)
    )
    with committed():
        message = services.reply(conversation, author=cast.contributor, body="Hi", now=NOW)
    assert heard == [
        ("sent", {"message_ids": [message.pk], "author_id": cast.contributor.pk}),
        (
            "conversation_changed",
            {
                "conversation_ids": [conversation.pk],
                "change": Event.Kind.ASSIGNED,
                "actor_id": cast.contributor.pk,
            },
        ),
    ]


@pytest.mark.django_db
def test_a_template_announces_the_message(heard, committed, cast):
    cast.channel.auto_assign = False
    cast.channel.save(update_fields=["auto_assign"])
    conversation = ConversationFactory(channel=cast.channel)
    template = TemplateFactory(channel=cast.channel)
    params = ["x"] * services.template_placeholder_count(template)
    with committed():
        message = services.send_template(
            conversation, author=cast.contributor, template=template, params=params
        )
    assert heard == [("sent", {"message_ids": [message.pk], "author_id": cast.contributor.pk})]


@pytest.mark.django_db
def test_status_callbacks_announce_a_delivery_change_once(heard, committed, cast):
    conversation = ConversationFactory(channel=cast.channel)
    message = MessageFactory(
        conversation=conversation,
        direction=Message.Direction.OUTBOUND,
        delivery=Message.Delivery.SENT,
        provider_message_id="wamid.out",
    )
    with committed():
        for _ in range(2):  # the second is a duplicate: nothing changes, nothing is said
            delivery.apply_status(
                channel=cast.channel, provider_message_id="wamid.out", status="delivered",
                timestamp=NOW,
            )  # fmt: skip
    assert heard == [("message_changed", {"message_ids": [message.pk], "change": "delivery"})]


@pytest.mark.django_db
def test_edits_and_deletions_announce_the_changed_message(heard, committed, cast):
    conversation = ConversationFactory(channel=cast.channel)
    message = MessageFactory(conversation=conversation, body="Helo", provider_message_id="w.e")
    with committed():
        message_changes.apply_edit(message, change_id="w.e2", body="Hello", sent_at=NOW, now=NOW)
        message_changes.apply_revoke(message, change_id="w.e3", sent_at=NOW, now=NOW)
    assert heard == [
        ("message_changed", {"message_ids": [message.pk], "change": "edited"}),
        ("message_changed", {"message_ids": [message.pk], "change": "revoked"}),
    ]


# --- lifecycle ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_lifecycle_change_announces_its_event_kind(heard, committed, cast):
    conversation = ConversationFactory(channel=cast.channel)
    tag, topic = TagFactory(), TopicFactory()
    actor = cast.supervisor
    with committed():
        services.assign(conversation, assignee=cast.contributor, actor=actor)
        services.unassign(conversation, actor=actor)
        services.add_tag(conversation, tag=tag, actor=actor)
        services.add_tag(conversation, tag=tag, actor=actor)  # a no-op says nothing
        services.remove_tag(conversation, tag=tag, actor=actor)
        services.add_topic(conversation, topic=topic, actor=actor)
        services.remove_topic(conversation, topic=topic, actor=actor)
        services.add_note(conversation, body="Called them", actor=actor)
        services.move_conversation(conversation, to="pending", actor=actor)
        services.move_conversation(conversation, to="pending", actor=actor)  # no-op
    assert [(n, k["change"], k["conversation_ids"], k["actor_id"]) for n, k in heard] == [
        ("conversation_changed", kind, [conversation.pk], actor.pk)
        for kind in (
            Event.Kind.ASSIGNED,
            Event.Kind.UNASSIGNED,
            Event.Kind.TAG_ADDED,
            Event.Kind.TAG_REMOVED,
            Event.Kind.TOPIC_ADDED,
            Event.Kind.TOPIC_REMOVED,
            Event.Kind.NOTE_ADDED,
            Event.Kind.STATUS_CHANGED,
        )
    ]


# --- auto-resolve ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_auto_resolve_batch_announces_once_for_all_its_conversations(heard, committed):
    channel = ChannelFactory(auto_resolve_new_after=timedelta(hours=1))
    due = [
        ConversationFactory(channel=channel, last_activity_at=NOW - timedelta(hours=2))
        for _ in range(3)
    ]
    ConversationFactory(channel=channel, last_activity_at=NOW)  # not due
    with committed():
        batch = autoresolve.autoresolve_batch(now=NOW, batch_size=10)
    assert batch.claimed == 3
    [(name, kwargs)] = heard
    assert name == "conversation_changed"
    assert sorted(kwargs["conversation_ids"]) == sorted(c.pk for c in due)
    assert (kwargs["change"], kwargs["actor_id"]) == (Event.Kind.AUTO_RESOLVED, None)


@pytest.mark.django_db
def test_an_auto_resolve_run_announces_its_batches_together_with_their_time(heard, committed):
    """Three batches of two, one announcement naming all five, with the run's instant (the
    receivers' fixed cost is paid per announcement, not per batch)."""
    channel = ChannelFactory(auto_resolve_new_after=timedelta(hours=1))
    due = [
        ConversationFactory(channel=channel, last_activity_at=NOW - timedelta(hours=2))
        for _ in range(5)
    ]
    with committed():
        summary = autoresolve.autoresolve(now=NOW, batch_size=2)
    assert (summary.total, summary.batches) == (5, 3)
    [(name, kwargs)] = heard
    assert name == "conversation_changed"
    assert sorted(kwargs["conversation_ids"]) == sorted(c.pk for c in due)
    assert (kwargs["change"], kwargs["at"]) == (Event.Kind.AUTO_RESOLVED, NOW)


# --- through the webhook: echoes, system lines, history -----------------------------------------


@pytest.fixture
def webhook_channel(db, settings):
    settings.WHATSAPP_APP_SECRET = APP_SECRET
    return ChannelFactory(phone_number_id=PNID)


def deliver(client, name):
    response = post_signed(client, (CORPUS / f"{name}.json").read_bytes())
    assert response.status_code == 200, response.content


def test_an_echo_from_the_business_app_is_announced_as_sent(
    client, webhook_channel, heard, committed
):
    with committed():
        deliver(client, "d21_echo_text")
    echo = Message.objects.get(via=Message.Via.BUSINESS_APP)
    assert ("sent", {"message_ids": [echo.pk], "author_id": None}) in heard
    assert (
        "conversation_changed",
        {"conversation_ids": [echo.conversation_id], "change": "opened", "actor_id": None},
    ) in heard


def test_a_number_change_announces_the_line_and_the_conversation(
    client, webhook_channel, heard, committed
):
    with committed():
        deliver(client, "d21_original_text")
    heard.clear()
    with committed():
        deliver(client, "d21_system_customer_changed_number")
    line = Message.objects.get(type=Message.Type.SYSTEM)
    assert only(heard, "received") == [
        {"message_ids": [line.pk], "created_conversation_ids": [], "reopened_conversation_ids": []}
    ]
    assert only(heard, "conversation_changed") == [
        {"conversation_ids": [line.conversation_id], "change": "number_changed", "actor_id": None}
    ]


def test_a_webhook_hands_its_announcements_to_the_worker(
    client, webhook_channel, heard, committed, settings, monkeypatch
):
    """With ANNOUNCE_WEBHOOKS_IN_WORKER the request runs no receiver: the announcements go to
    the worker's task as JSON, and the task delivers exactly what the request would have."""
    handed: list[tuple[str, dict]] = []
    monkeypatch.setattr(jobs, "announce_in_worker", handed.extend)
    settings.ANNOUNCE_WEBHOOKS_IN_WORKER = True
    with committed():
        deliver(client, "d21_original_text")
    assert heard == []
    message = Message.objects.get()
    [kwargs] = [k for n, k in handed if n == "message_received"]
    assert kwargs["message_ids"] == [message.pk]
    tasks.announce_batch.apply(args=(json.loads(json.dumps(handed)),))
    assert only(heard, "received") == [
        {
            "message_ids": [message.pk],
            "created_conversation_ids": [message.conversation_id],
            "reopened_conversation_ids": [],
        }
    ]


def test_a_webhook_whose_handover_fails_runs_the_receivers_itself(
    client, webhook_channel, heard, committed, settings, monkeypatch
):
    def broker_down(batch):
        raise ConnectionRefusedError("broker unreachable")

    monkeypatch.setattr(jobs, "announce_in_worker", broker_down)
    settings.ANNOUNCE_WEBHOOKS_IN_WORKER = True
    with committed():
        deliver(client, "d21_original_text")
    message = Message.objects.get()
    assert [k["message_ids"] for k in only(heard, "received")] == [[message.pk]]


def test_imported_history_announces_its_messages(client, webhook_channel, heard, committed):
    with committed():
        deliver(client, "d21_history_threads")
    history = Message.objects.filter(via=Message.Via.HISTORY)
    inbound_ids = {m.pk for m in history if m.direction == Message.Direction.INBOUND}
    outbound_ids = {m.pk for m in history if m.direction == Message.Direction.OUTBOUND}
    assert inbound_ids and outbound_ids
    assert {pk for k in only(heard, "received") for pk in k["message_ids"]} == inbound_ids
    assert {pk for k in only(heard, "sent") for pk in k["message_ids"]} == outbound_ids


def test_an_edit_through_the_webhook_is_announced(client, webhook_channel, heard, committed):
    with committed():
        deliver(client, "d21_original_text")
        deliver(client, "d21_edit_text")
    original = Message.objects.get(direction=Message.Direction.INBOUND)
    assert ("message_changed", {"message_ids": [original.pk], "change": "edited"}) in heard
