"""reply and send_template: the 24-hour window, permissions, auto-assign, dispatch after commit."""

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.utils import timezone

from channels_app.models import MessageTemplate
from conversations import services
from conversations.models import Conversation, Event, Message
from tests.factories import ConversationFactory, TemplateFactory, UserFactory

NOW = timezone.now().replace(microsecond=0)
DAY = timedelta(hours=24)


@pytest.fixture
def dispatched(monkeypatch):
    """The message ids handed to the dispatch task (recorded instead of published)."""
    from conversations.tasks import dispatch_message

    ids = []
    monkeypatch.setattr(dispatch_message, "delay", ids.append)
    return ids


@pytest.fixture
def conv(cast):
    return ConversationFactory(
        channel=cast.channel,
        opened_at=NOW - timedelta(hours=1),
        last_customer_message_at=NOW - timedelta(hours=1),
    )


def fresh(conversation):
    return Conversation.objects.select_related("channel").get(pk=conversation.pk)


def test_contributor_reply_is_queued_and_dispatched_once_after_commit(
    cast, conv, dispatched, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        message = services.reply(
            fresh(conv), author=cast.contributor, body=" On its way! ", now=NOW
        )
        assert dispatched == []  # nothing leaves before commit

    assert message.delivery == Message.Delivery.QUEUED
    assert message.direction == Message.Direction.OUTBOUND
    assert message.author == cast.contributor
    assert message.body == "On its way!"
    for callback in callbacks:  # the dispatch, and the announcements of conversations.signals
        callback()
    assert dispatched == [message.id]


def test_viewer_reply_is_refused_and_nothing_is_stored(
    cast, conv, dispatched, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(PermissionDenied):
        services.reply(fresh(conv), author=cast.viewer, body="hi", now=NOW)
    assert Message.objects.count() == 0
    assert dispatched == []


@pytest.mark.parametrize(
    ("offset", "allowed"),
    [(-timedelta(seconds=1), True), (timedelta(0), False), (timedelta(seconds=1), False)],
)
def test_reply_window_boundary_one_second_either_side(cast, conv, settings, offset, allowed):
    settings.WHATSAPP_WINDOW_SAFETY_MARGIN = timedelta(0)
    at = conv.last_customer_message_at + DAY + offset
    if allowed:
        assert services.reply(fresh(conv), author=cast.contributor, body="ok", now=at)
    else:
        with pytest.raises(services.WindowClosed) as exc:
            services.reply(fresh(conv), author=cast.contributor, body="late", now=at)
        assert exc.value.message == str(services.WINDOW_CLOSED)
        assert Message.objects.count() == 0


def test_reply_window_keeps_the_safety_margin(cast, conv, settings):
    settings.WHATSAPP_WINDOW_SAFETY_MARGIN = timedelta(seconds=60)
    closes = conv.last_customer_message_at + DAY
    services.reply(
        fresh(conv), author=cast.contributor, body="ok", now=closes - timedelta(seconds=61)
    )
    with pytest.raises(services.WindowClosed):
        services.reply(
            fresh(conv), author=cast.contributor, body="x", now=closes - timedelta(seconds=60)
        )


@pytest.mark.parametrize(
    ("body", "error"), [("   ", services.EMPTY_REPLY), ("x" * 4097, services.REPLY_TOO_LONG)]
)
def test_empty_or_too_long_reply_is_refused(cast, conv, body, error):
    with pytest.raises(services.DomainError) as exc:
        services.reply(fresh(conv), author=cast.contributor, body=body, now=NOW)
    assert exc.value.message == str(error)


def test_a_reply_of_exactly_4096_characters_is_accepted(cast, conv):
    assert services.reply(fresh(conv), author=cast.contributor, body="x" * 4096, now=NOW)


def test_reply_on_resolved_conversation_is_refused(cast):
    conv = ConversationFactory(
        channel=cast.channel, status=Conversation.Status.RESOLVED, last_customer_message_at=NOW
    )
    with pytest.raises(services.DomainError) as exc:
        services.reply(fresh(conv), author=cast.contributor, body="hi", now=NOW)
    assert exc.value.message == str(services.REPLY_ON_RESOLVED)


def test_reply_auto_assigns_an_unassigned_conversation_and_sets_first_response(cast, conv):
    services.reply(fresh(conv), author=cast.contributor, body="hi", now=NOW)
    services.reply(
        fresh(conv), author=cast.supervisor, body="me too", now=NOW + timedelta(minutes=1)
    )
    conv.refresh_from_db()

    assert conv.assignee == cast.contributor  # the second replier does not take it over
    assert conv.first_response_at == NOW
    assert conv.last_activity_at == NOW + timedelta(minutes=1)
    assert conv.last_message_preview == "me too"
    event = conv.events.get(kind=Event.Kind.ASSIGNED)
    assert event.actor == cast.contributor
    assert event.data["auto"] is True


def test_reply_without_auto_assign_leaves_the_conversation_unassigned(cast, conv):
    cast.channel.auto_assign = False
    cast.channel.save()
    services.reply(fresh(conv), author=cast.contributor, body="hi", now=NOW)
    conv.refresh_from_db()
    assert conv.assignee is None
    assert not conv.events.filter(kind=Event.Kind.ASSIGNED).exists()


# --- templates ---------------------------------------------------------------------------------


@pytest.fixture
def closed_conv(cast):
    return ConversationFactory(
        channel=cast.channel,
        opened_at=NOW - timedelta(days=3),
        last_customer_message_at=NOW - timedelta(days=2),
    )


def test_template_outside_the_window_is_queued_with_its_parameters(
    cast, closed_conv, dispatched, django_capture_on_commit_callbacks
):
    template = TemplateFactory(channel=cast.channel, name="order_update", language="en_US")
    with django_capture_on_commit_callbacks(execute=True):
        message = services.send_template(
            fresh(closed_conv),
            author=cast.contributor,
            template=template,
            params=["Dana", "4471"],
            now=NOW,
        )
    assert message.type == Message.Type.TEMPLATE
    assert message.body == "Hi Dana, your order 4471 has an update."
    assert message.payload == {
        "template": "order_update",
        "language": "en_US",
        "params": ["Dana", "4471"],
    }
    assert message.template == template
    assert message.sent_outside_window is True
    assert message.delivery == Message.Delivery.QUEUED
    assert dispatched == [message.id]


def test_template_inside_the_window_is_not_marked_outside(cast, conv):
    template = TemplateFactory(channel=cast.channel)
    message = services.send_template(
        fresh(conv), author=cast.contributor, template=template, params=["a", "b"], now=NOW
    )
    assert message.sent_outside_window is False


@pytest.mark.parametrize("params", [["Dana"], ["Dana", "4471", "extra"], ["Dana", " "]])
def test_template_with_wrong_parameters_is_refused(cast, closed_conv, params):
    template = TemplateFactory(channel=cast.channel)
    with pytest.raises(services.DomainError):
        services.send_template(
            fresh(closed_conv), author=cast.contributor, template=template, params=params, now=NOW
        )
    assert Message.objects.count() == 0


@pytest.mark.parametrize(
    "status", [MessageTemplate.Status.PENDING, MessageTemplate.Status.REJECTED]
)
def test_unapproved_template_is_refused(cast, closed_conv, status):
    template = TemplateFactory(channel=cast.channel, status=status)
    with pytest.raises(services.DomainError) as exc:
        services.send_template(
            fresh(closed_conv),
            author=cast.contributor,
            template=template,
            params=["a", "b"],
            now=NOW,
        )
    assert exc.value.message == str(services.TEMPLATE_NOT_SENDABLE)


def test_template_of_another_channel_is_refused(cast, closed_conv):
    template = TemplateFactory(channel=cast.other_channel)
    with pytest.raises(services.DomainError):
        services.send_template(
            fresh(closed_conv),
            author=cast.contributor,
            template=template,
            params=["a", "b"],
            now=NOW,
        )


def test_viewer_cannot_send_a_template(cast, closed_conv):
    template = TemplateFactory(channel=cast.channel)
    with pytest.raises(PermissionDenied):
        services.send_template(
            fresh(closed_conv), author=cast.viewer, template=template, params=["a", "b"], now=NOW
        )


# --- concurrency -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_replies_leave_exactly_one_assignee_and_two_messages(
    on_postgres, monkeypatch
):
    from channels_app.access import Role
    from conversations.tasks import dispatch_message
    from tests.factories import ChannelFactory, GrantFactory

    monkeypatch.setattr(dispatch_message, "delay", lambda _id: None)
    channel = ChannelFactory(auto_assign=True)
    agents = [UserFactory(), UserFactory()]
    for agent in agents:
        GrantFactory(channel=channel, user=agent, role=Role.CONTRIBUTOR)
    now = timezone.now()
    conv = ConversationFactory(channel=channel, last_customer_message_at=now)
    barrier = threading.Barrier(2)
    errors = []

    def reply_as(agent):
        try:
            instance = fresh(conv)
            barrier.wait(timeout=5)
            services.reply(instance, author=agent, body=f"from {agent.username}", now=now)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=reply_as, args=(a,)) for a in agents]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    conv.refresh_from_db()
    assert errors == []
    assert conv.assignee in agents
    assert Message.objects.filter(conversation=conv).count() == 2
    assert Event.objects.filter(conversation=conv, kind=Event.Kind.ASSIGNED).count() == 1
