"""Failed replies (issue 13, item 8): Retry for what may be retried, sent once; the reason in the
reader's language from Meta's code; a failed reply is no first response in the reports."""

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from channels_app.access import Role
from channels_app.whatsapp.errors import TransportError
from conversations import services
from conversations.models import Event, Message
from conversations.services import delivery, outbound
from reports import build, figures
from tests.factories import ConversationFactory, GrantFactory, UserFactory
from tests.whatsapp.conftest import wait_for
from tests.whatsapp.test_end_to_end import customer_writes, delivery_of, failed_and_recorded

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def agent(wa_channel):
    user = UserFactory(username="rita_replies", first_name="Rita")
    GrantFactory(channel=wa_channel, user=user, role=Role.CONTRIBUTOR)
    return user


def customer_wrote(emulator, channel):
    """The customer's message stored and its webhook finished: on SQLite the live server shares
    the in-memory database, and a write of the test meeting the webhook's open transaction
    fails with "table is locked" instead of waiting."""
    message = customer_writes(emulator, channel)
    assert emulator.idle()
    return message.conversation


def retry_url(message):
    return reverse("conversations:retry", args=[message.conversation_id, message.pk])


def detail_html(client, message) -> str:
    url = reverse("conversations:detail", args=[message.conversation_id])
    return client.get(url).content.decode()


def flashes(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def dispatch_until_done(message) -> str:
    """Run the outbound task's work the way its retries would, until it stops retrying."""
    while (outcome := outbound.dispatch(message.pk)).result == "retry":
        pass
    return outcome.result


def sends_of(emulator, channel, body):
    return [s for s in emulator.sends(channel.phone_number_id) if s.get("text") == body]


def first_responses(channel) -> int:
    today = timezone.localdate()
    period = figures.Period(
        first=today - timedelta(days=1), last=today, tz=timezone.get_current_timezone()
    )
    report = build.build_report(channel_ids=[channel.pk], period=period, now=timezone.now())
    return report.summary.first_response.count


def test_a_reply_failed_by_an_outage_is_retried_once_and_then_counts_as_first_response(
    emulator, wa_channel, agent, client
):
    conversation = customer_wrote(emulator, wa_channel)
    reply = services.reply(conversation, author=agent, body="Thanks Dana, it left today.")
    conversation.refresh_from_db()
    assert conversation.first_response_at == reply.created_at
    assert first_responses(wa_channel) == 1

    emulator.http_errors(500, outbound.MAX_ATTEMPTS)
    assert dispatch_until_done(reply) == "failed"
    reply.refresh_from_db()
    assert (reply.delivery, reply.failure_code) == (Message.Delivery.FAILED, 131000)
    # Never reached the customer: not the conversation's first response, not in the report.
    conversation.refresh_from_db()
    assert (conversation.first_response_at, conversation.first_responder) == (None, None)
    assert first_responses(wa_channel) == 0

    client.force_login(agent)
    html = detail_html(client, reply)
    assert "Something went wrong at WhatsApp. (WhatsApp error 131000)" in html
    assert f'action="{retry_url(reply)}"' in html

    # A double click: the first queues it, the second is told and queues nothing.
    first = client.post(retry_url(reply))
    second = client.post(retry_url(reply))
    assert first.status_code == second.status_code == 302
    assert flashes(first) == ["Sending the reply again."]
    assert flashes(second)[-1] == str(outbound.NOT_FAILED)
    reply.refresh_from_db()
    assert (reply.delivery, reply.attempts, reply.failure_code) == ("queued", 0, None)
    # Two workers picking it up (the task and a sweep): the claim lets one send.
    assert [outbound.dispatch(reply.pk).result for _ in range(2)] == ["sent", "skipped"]
    assert wait_for(lambda: delivery_of(reply) == Message.Delivery.READ)
    assert emulator.idle()
    assert len(sends_of(emulator, wa_channel, "Thanks Dana, it left today.")) == 1
    [retried] = Event.objects.filter(kind=Event.Kind.REPLY_RETRIED)
    assert (retried.actor, retried.data["message"], retried.data["code"]) == (
        agent,
        reply.pk,
        131000,
    )
    # It reached the customer when it was sent again: that is the first response now.
    conversation.refresh_from_db()
    assert reply.retried_at is not None
    assert (conversation.first_response_at, conversation.first_responder) == (
        reply.retried_at,
        agent,
    )
    assert first_responses(wa_channel) == 1
    assert 'class="retry"' not in detail_html(client, reply)


def test_an_asynchronous_retryable_failure_is_sent_again_and_its_late_statuses_are_ignored(
    emulator, wa_channel, agent
):
    conversation = customer_wrote(emulator, wa_channel)
    reply = services.reply(conversation, author=agent, body="Your refund is on its way.")
    emulator.fail_next_send(131056, mode="async")  # pair rate limit, reported by a status
    assert outbound.dispatch(reply.pk).result == "sent"
    assert wait_for(lambda: failed_and_recorded(reply))
    assert emulator.idle()
    failed_wamid = reply.provider_message_id
    assert failed_wamid and outbound.can_retry(reply)

    outbound.retry(reply, actor=agent)
    assert outbound.dispatch(reply.pk).result == "sent"
    assert wait_for(lambda: delivery_of(reply) == Message.Delivery.READ)
    assert emulator.idle()
    assert reply.provider_message_id not in (None, failed_wamid)
    # A redelivered "failed" of the first send (it carries our id as callback data too).
    delivery.apply_status(
        channel=wa_channel,
        provider_message_id=failed_wamid,
        status="failed",
        timestamp=timezone.now(),
        callback_data=str(reply.pk),
        error_code=131056,
    )
    assert delivery_of(reply) == Message.Delivery.READ
    assert len(sends_of(emulator, wa_channel, "Your refund is on its way.")) == 2


@pytest.mark.parametrize(
    ("code", "mode", "reason"),
    [
        (131026, "async", "The message could not be delivered"),
        (131030, "sync", "not in the allowed list"),
        (132001, "sync", "not approved"),
    ],
)
def test_a_failure_that_cannot_be_retried_offers_no_retry_and_refuses_one(
    emulator, wa_channel, agent, client, code, mode, reason
):
    conversation = customer_wrote(emulator, wa_channel)
    reply = services.reply(conversation, author=agent, body="Hello again")
    emulator.fail_next_send(code, mode=mode)
    outbound.dispatch(reply.pk)
    assert wait_for(lambda: failed_and_recorded(reply))
    assert emulator.idle()
    client.force_login(agent)
    html = detail_html(client, reply)
    assert reason in html and f"(WhatsApp error {code})" in html
    assert 'class="retry"' not in html

    response = client.post(retry_url(reply))
    assert flashes(response) == [str(outbound.NOT_RETRYABLE)]
    assert delivery_of(reply) == Message.Delivery.FAILED
    assert not Event.objects.filter(kind=Event.Kind.REPLY_RETRIED).exists()


def test_the_window_closed_failure_is_not_retried(emulator, wa_channel, agent):
    conversation = customer_wrote(emulator, wa_channel)
    reply = services.reply(conversation, author=agent, body="Late answer")
    emulator.advance_clock(25 * 3600)
    outbound.dispatch(reply.pk)
    assert wait_for(lambda: failed_and_recorded(reply))
    assert emulator.idle()
    assert reply.failure_code == 131047 and not outbound.can_retry(reply)
    with pytest.raises(services.DomainError) as exc:
        outbound.retry(reply, actor=agent)
    assert exc.value.message == str(outbound.NOT_RETRYABLE)


def test_a_send_without_an_answer_is_retried_only_once_its_status_could_have_come(
    wa_channel, agent
):
    conversation = ConversationFactory(
        channel=wa_channel, last_customer_message_at=timezone.now() - timedelta(minutes=5)
    )
    now = timezone.now()
    reply = services.reply(conversation, author=agent, body="Did this arrive?", now=now)
    outbound.mark_failed(reply.pk, error=TransportError("timed out"), now=now)
    reply.refresh_from_db()
    assert outbound.can_retry(reply)
    with pytest.raises(services.DomainError) as exc:
        outbound.retry(reply, actor=agent, now=now + timedelta(minutes=1))
    assert exc.value.message == str(outbound.SETTLING)
    # Had WhatsApp accepted it, its "sent" status would have cleared the failure by now.
    delivery.apply_status(
        channel=wa_channel,
        provider_message_id="wamid.LATE",
        status="sent",
        timestamp=now,
        callback_data=str(reply.pk),
    )
    reply.refresh_from_db()
    assert (reply.delivery, reply.failure_code) == (Message.Delivery.SENT, None)
    conversation.refresh_from_db()
    assert conversation.first_response_at == reply.created_at
    with pytest.raises(services.DomainError):
        outbound.retry(reply, actor=agent, now=now + timedelta(minutes=3))

    # No status came for another one: after the settling time it may be sent again.
    other = services.reply(conversation, author=agent, body="And this?", now=now)
    outbound.mark_failed(other.pk, error=TransportError("timed out"), now=now)
    other.refresh_from_db()
    outbound.retry(other, actor=agent, now=now + outbound.UNANSWERED_SETTLE)
    assert delivery_of(other) == Message.Delivery.QUEUED


def test_a_viewer_cannot_retry_and_sees_no_button(emulator, wa_channel, agent, client):
    viewer = UserFactory(username="val_viewer")
    GrantFactory(channel=wa_channel, user=viewer, role=Role.VIEWER)
    conversation = customer_wrote(emulator, wa_channel)
    reply = services.reply(conversation, author=agent, body="Soon")
    emulator.http_errors(503, outbound.MAX_ATTEMPTS)
    dispatch_until_done(reply)
    client.force_login(viewer)
    assert 'class="retry"' not in detail_html(client, reply)
    assert client.post(retry_url(reply)).status_code == 403
    assert delivery_of(reply) == Message.Delivery.FAILED


def test_the_reason_is_shown_in_the_readers_language(emulator, wa_channel, agent, client):
    conversation = customer_wrote(emulator, wa_channel)
    reply = services.reply(conversation, author=agent, body="Hallo")
    emulator.fail_next_send(131026, mode="async")
    outbound.dispatch(reply.pk)
    assert wait_for(lambda: failed_and_recorded(reply))
    assert emulator.idle()
    client.force_login(agent)
    english = detail_html(client, reply)
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "de"
    german = detail_html(client, reply)
    assert "The message could not be delivered" in english
    assert "Die Nachricht konnte nicht zugestellt werden" in german
    assert "The message could not be delivered" not in german
    # The history line is translated from the same code.
    assert "Antwort fehlgeschlagen: Die Nachricht konnte nicht zugestellt werden" in german
