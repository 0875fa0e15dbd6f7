"""The desk against the emulator as a real HTTP server: signed webhooks in, replies out."""

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.models import Conversation, Event, Message
from conversations.services import outbound
from conversations.tasks import dispatch_message
from conversations.templatetags.desk import failure_text
from tests.factories import ConversationFactory
from tests.whatsapp.conftest import queue_reply, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
CUSTOMER = "15555550123"


def customer_writes(emulator, channel, text="Where is my parcel?", **kwargs):
    emulator.inject(channel.phone_number_id, wa_id=CUSTOMER, name="Dana Reyes", text=text, **kwargs)
    message = wait_for(
        lambda: (
            Message.objects.filter(channel=channel, direction="in", body=text)
            .select_related("conversation__contact")
            .first()
        )
    )
    assert message is not None, "the inbound webhook never arrived"
    return message


def delivery_of(message):
    message.refresh_from_db()
    return message.delivery


def failed_and_recorded(reply) -> bool:
    """The reply shows failed and its REPLY_FAILED event is written. The webhook writes both in
    one transaction; on SQLite the live server shares the test's connection, so the test could
    see the first write before the second: wait for both."""
    return (
        delivery_of(reply) == Message.Delivery.FAILED
        and Event.objects.filter(
            conversation_id=reply.conversation_id, kind=Event.Kind.REPLY_FAILED
        ).exists()
    )


def test_customer_message_arrives_through_a_signed_webhook_as_new(emulator, wa_channel):
    inbound = customer_writes(emulator, wa_channel)
    conversation = inbound.conversation
    assert conversation.status == Conversation.Status.NEW
    assert conversation.contact.profile_name == "Dana Reyes"
    assert conversation.last_customer_message_at == inbound.sent_at


def test_reply_reaches_the_emulator_and_its_statuses_come_back(emulator, wa_channel):
    inbound = customer_writes(emulator, wa_channel)
    reply = queue_reply(inbound.conversation, "Thanks Dana, it left today.")
    assert outbound.dispatch(reply.pk).result == "sent"
    [sent] = emulator.sends(wa_channel.phone_number_id)
    assert (sent["to"], sent["text"], sent["callback_data"]) == (
        CUSTOMER,
        "Thanks Dana, it left today.",
        str(reply.pk),
    )
    assert wait_for(lambda: delivery_of(reply) == Message.Delivery.READ)
    assert reply.provider_message_id == sent["wamid"]
    assert reply.sent_at and reply.delivered_at and reply.read_at
    assert [m["text"] for m in emulator.chat(wa_channel.phone_number_id, CUSTOMER)] == [
        "Where is my parcel?",
        "Thanks Dana, it left today.",
    ]


def test_reply_outside_the_24h_window_is_refused_before_sending(emulator, wa_channel):
    conversation = ConversationFactory(
        channel=wa_channel, last_customer_message_at=timezone.now() - timedelta(hours=25)
    )
    reply = queue_reply(conversation)
    outcome = outbound.dispatch(reply.pk)
    assert outcome.result == "failed"
    reply.refresh_from_db()
    assert (reply.delivery, reply.failure_code) == (Message.Delivery.FAILED, 131047)
    assert "window is closed" in failure_text(reply)
    assert emulator.sends(wa_channel.phone_number_id) == []
    assert Event.objects.filter(conversation=conversation, kind=Event.Kind.REPLY_FAILED).exists()


def test_window_boundary_plus_minus_one_second(emulator, wa_channel, settings):
    now = timezone.now()
    margin = settings.WHATSAPP_WINDOW_SAFETY_MARGIN
    last = now - timedelta(hours=24) + margin
    open_conv = ConversationFactory(
        channel=wa_channel, last_customer_message_at=last + timedelta(seconds=1)
    )
    closed_conv = ConversationFactory(channel=wa_channel, last_customer_message_at=last)
    emulator.last_inbound[(wa_channel.phone_number_id, open_conv.contact.wa_id)] = now.timestamp()
    assert outbound.dispatch(queue_reply(open_conv).pk, now=now).result == "sent"
    assert outbound.dispatch(queue_reply(closed_conv).pk, now=now).result == "failed"


def test_reply_whose_window_closed_while_queued_fails_on_the_async_131047(emulator, wa_channel):
    inbound = customer_writes(emulator, wa_channel)
    reply = queue_reply(inbound.conversation)
    emulator.advance_clock(25 * 3600)  # clock skew: Meta already sees the window closed
    assert outbound.dispatch(reply.pk).result == "sent"
    assert wait_for(lambda: failed_and_recorded(reply))
    assert reply.failure_code == 131047
    assert "24-hour customer service window is closed" in failure_text(reply)
    # Meta's own words are kept; the agent reads our text, in their language, from the code.
    assert reply.failure_reason.startswith("Message failed to send because more than 24 hours")


def test_duplicate_webhooks_are_stored_once(emulator, wa_channel):
    emulator.duplicate_webhooks = True
    inbound = customer_writes(emulator, wa_channel, text="twice?")
    reply = queue_reply(inbound.conversation)
    outbound.dispatch(reply.pk)
    assert emulator.idle()
    assert Message.objects.filter(direction="in").count() == 1
    assert delivery_of(reply) == Message.Delivery.READ
    assert Event.objects.filter(kind=Event.Kind.REPLY_FAILED).count() == 0


def test_out_of_order_statuses_end_at_read(emulator, wa_channel):
    inbound = customer_writes(emulator, wa_channel)
    emulator.reorder_statuses = True  # read, then delivered, then sent
    reply = queue_reply(inbound.conversation)
    outbound.dispatch(reply.pk)
    assert emulator.idle()
    assert delivery_of(reply) == Message.Delivery.READ


def test_bad_signature_is_refused_then_the_retry_is_stored_once(emulator, wa_channel):
    emulator.bad_signature_next(1)
    customer_writes(emulator, wa_channel, text="first try refused")
    assert emulator.idle()
    refused = [d for d in emulator.webhooks_delivered if d["status"] == 403]
    assert refused, "the emulator's first delivery should have been refused"
    assert Message.objects.filter(body="first try refused").count() == 1


def test_429_and_500_are_retried_with_backoff_then_delivered(emulator, wa_channel, eager_tasks):
    inbound = customer_writes(emulator, wa_channel)
    reply = queue_reply(inbound.conversation)
    emulator.http_errors(429, 1)
    emulator.http_errors(500, 1)
    assert dispatch_message.apply(args=[reply.pk]).get() == "sent"
    reply.refresh_from_db()
    assert reply.attempts == 3
    assert len(emulator.sends(wa_channel.phone_number_id)) == 1
    assert wait_for(lambda: delivery_of(reply) == Message.Delivery.READ)


def test_transient_errors_past_the_bound_fail_with_the_reason(emulator, wa_channel, eager_tasks):
    inbound = customer_writes(emulator, wa_channel)
    reply = queue_reply(inbound.conversation)
    emulator.http_errors(500, outbound.MAX_ATTEMPTS)
    assert dispatch_message.apply(args=[reply.pk]).get() == "failed"
    reply.refresh_from_db()
    assert (reply.delivery, reply.attempts) == ("failed", outbound.MAX_ATTEMPTS)
    assert "Something went wrong at WhatsApp" in failure_text(reply)


@pytest.mark.parametrize(
    ("code", "mode", "reason"),
    [
        (131030, "sync", "not in the allowed list"),
        (190, "sync", "access token is invalid"),
        (131026, "async", "could not be delivered"),
    ],
)
def test_permanent_error_is_shown_failed_with_its_reason(emulator, wa_channel, code, mode, reason):
    inbound = customer_writes(emulator, wa_channel)
    reply = queue_reply(inbound.conversation)
    emulator.fail_next_send(code, mode=mode)
    outbound.dispatch(reply.pk)
    assert wait_for(lambda: failed_and_recorded(reply))
    assert reply.failure_code == code
    assert reason in failure_text(reply)
    assert reply.attempts == 1  # permanent: never retried
    assert Event.objects.filter(kind=Event.Kind.REPLY_FAILED).count() == 1


def test_template_reply_is_sent_even_when_the_window_is_closed(emulator, wa_channel):
    from tests.factories import TemplateFactory

    template = TemplateFactory(channel=wa_channel, name="order_update")
    emulator.add_template(wa_channel.waba_id, name="order_update", components=template.components)
    conversation = ConversationFactory(
        channel=wa_channel, last_customer_message_at=timezone.now() - timedelta(days=3)
    )
    reply = queue_reply(
        conversation,
        "",
        type="template",
        template=template,
        payload={"parameters": ["Dana", "4471"]},
    )
    assert outbound.dispatch(reply.pk).result == "sent"
    [sent] = emulator.sends(wa_channel.phone_number_id)
    assert sent["text"] == "Hi Dana, your order 4471 has an update."
    assert wait_for(lambda: delivery_of(reply) == Message.Delivery.READ)


def test_two_workers_dispatching_the_same_reply_send_it_once(emulator, wa_channel, on_postgres):
    inbound = customer_writes(emulator, wa_channel)
    reply = queue_reply(inbound.conversation)
    barrier = threading.Barrier(2)
    results = []

    def worker():
        from django.db import connection

        barrier.wait()
        results.append(outbound.dispatch(reply.pk).result)
        connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["sent", "skipped"]
    assert len(emulator.sends(wa_channel.phone_number_id)) == 1


def test_inbound_image_is_downloaded_into_media_root(emulator, wa_channel, eager_tasks, settings):
    customer_writes(emulator, wa_channel, text="the dent", type="image")
    message = wait_for(
        lambda: Message.objects.filter(type="image", payload__has_key="file").first()
    )
    assert message is not None
    path = settings.MEDIA_ROOT / message.payload["file"]
    assert path.read_bytes().startswith(b"\x89PNG")
