"""The webhook's ingest rules of issues 12 and 21: body size, per-message isolation, template
status order and timestamps from the future; each over the real view with signed payloads."""

import dataclasses
import io
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from django.test import RequestFactory
from django.utils import timezone, translation

from channels_app.models import MessageTemplate
from channels_app.whatsapp import webhooks
from channels_app.whatsapp.webhooks import sign
from conversations.models import Conversation, Message
from conversations.queries import thread_page
from conversations.services import inbound_events
from conversations.templatetags.desk import thread_items
from conversations.webhooks import whatsapp_webhook
from tests.factories import ChannelFactory, ConversationFactory, MessageFactory, TemplateFactory
from tests.whatsapp.conftest import APP_SECRET, WEBHOOK_PATH, fixture_json, post_signed

PNID = "109876543210987"


@pytest.fixture
def channel(db):
    return ChannelFactory(phone_number_id=PNID)


def _message(n, **fields):
    return {
        "from": "15555550123",
        "id": f"wamid.BATCH{n}",
        "timestamp": "1767225600",
        "type": "text",
        "text": {"body": f"message {n}"},
        **fields,
    }


def _batch(*messages, statuses=()):
    payload = fixture_json("text_reply")
    value = payload["entry"][0]["changes"][0]["value"]
    value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    return payload


def _thread_html(conversation, language="en"):
    with translation.override(language):
        page = thread_page(conversation, size=50)
        return thread_items(page.items, "/conversations/x/", ())


# --- issue 21 item 1: per-message isolation --------------------------------------------------
def test_a_good_and_an_unreadable_message_in_one_batch_are_both_stored(client, channel, caplog):
    broken = _message(2, type="interactive")  # "interactive" without its object
    with caplog.at_level(logging.WARNING):
        response = post_signed(client, _batch(_message(1), broken))
    assert response.status_code == 200
    good = Message.objects.get(provider_message_id="wamid.BATCH1")
    unreadable = Message.objects.get(provider_message_id="wamid.BATCH2")
    assert (good.type, good.body) == (Message.Type.TEXT, "message 1")
    assert unreadable.type == Message.Type.UNREADABLE
    assert json.loads(unreadable.payload["raw"]) == broken
    assert "interactive is not an object" in unreadable.payload["reason"]
    assert good.conversation_id == unreadable.conversation_id
    assert "wamid.BATCH2" in caplog.text


def test_the_unreadable_message_shows_a_clear_line_in_english_and_german(client, channel):
    post_signed(client, _batch(_message(1, type="text", text={"body": 42})))
    conversation = Conversation.objects.get()
    assert "A message the desk could not read — open WhatsApp" in _thread_html(conversation)
    german = _thread_html(conversation, "de")
    assert "Eine Nachricht, die der Desk nicht lesen konnte — in WhatsApp öffnen" in german


def test_an_unreadable_message_without_an_id_is_stored_once_across_redeliveries(client, channel):
    broken = {"from": "15555550123", "type": "location", "location": {"latitude": "x"}}
    for _ in range(3):
        assert post_signed(client, _batch(broken)).status_code == 200
    assert Message.objects.filter(type=Message.Type.UNREADABLE).count() == 1


def test_a_broken_status_is_skipped_and_the_message_beside_it_stored(client, channel, caplog):
    status = {"id": "wamid.OUT1", "status": "delivered", "timestamp": {"not": "a time"}}
    with caplog.at_level(logging.WARNING):
        response = post_signed(client, _batch(_message(1), statuses=[status]))
    assert response.status_code == 200
    assert json.loads(response.content) == {"messages": 1, "skipped": 1}
    assert Message.objects.get().provider_message_id == "wamid.BATCH1"
    assert "statuses[0] skipped" in caplog.text


def test_a_message_with_nul_in_its_text_is_kept_unreadable_not_refusing_the_batch(client, channel):
    response = post_signed(client, _batch(_message(1), _message(2, text={"body": "a\x00b"})))
    assert response.status_code == 200
    assert Message.objects.get(provider_message_id="wamid.BATCH2").type == "unreadable"
    assert Message.objects.get(provider_message_id="wamid.BATCH1").body == "message 1"


@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"object": "whatsapp_business_account"}', b'{"object": "page", "entry": []}'],
)
def test_only_a_broken_envelope_is_refused(client, channel, body):
    assert post_signed(client, body).status_code == 400
    assert not Message.objects.exists()


def test_a_single_unreadable_message_goes_through_the_one_statement_path(
    client, channel, on_postgres
):
    response = post_signed(client, _batch(_message(1, type="image", image={"id": 5})))
    assert json.loads(response.content) == {"messages": 1}
    assert Message.objects.get().type == Message.Type.UNREADABLE


def test_a_message_the_database_refuses_is_kept_unreadable_and_costs_no_other(
    channel, on_postgres
):
    # The parser keeps ids within the column; should a value still not fit (a parser change, a
    # column narrowed), the database's refusal costs only that message, kept as unreadable.
    [good, bad] = webhooks.parse(json.dumps(_batch(_message(1), _message(2))).encode())
    bad = dataclasses.replace(bad, provider_message_id="wamid." + "x" * 200)
    counts = inbound_events.process_events([good, bad])
    assert counts == {"messages": 2}
    assert Message.objects.get(provider_message_id="wamid.BATCH1").body == "message 1"
    kept = Message.objects.get(type=Message.Type.UNREADABLE)
    assert kept.provider_message_id.startswith("unreadable.")
    assert "DataError" in kept.payload["reason"]
    assert "message 2" in kept.payload["raw"]


# --- issue 12 item 4: body size --------------------------------------------------------------
class _Unreadable(io.RawIOBase):
    def read(self, *args):
        raise AssertionError("the body was read")


def test_a_body_over_the_limit_gets_413_from_content_length_before_it_is_read(
    channel, settings, caplog
):
    request = RequestFactory().generic(
        "POST", WEBHOOK_PATH, b"", content_type="application/json"
    )
    request.META["CONTENT_LENGTH"] = str(settings.WEBHOOK_MAX_BODY_BYTES + 1)
    request.META["wsgi.input"] = _Unreadable()
    request._stream = _Unreadable()
    with caplog.at_level(logging.INFO):
        response = whatsapp_webhook(request)
    assert response.status_code == 413
    [record] = [r for r in caplog.records if r.name == "conversations.webhooks"]
    assert record.levelno == logging.WARNING
    assert record.exc_info is None
    assert "\n" not in record.getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_5mb_post_through_the_client_is_413_without_an_error_log(client, channel, caplog):
    with caplog.at_level(logging.INFO):
        response = post_signed(client, b"x" * (5 * 1024 * 1024))
    assert response.status_code == 413
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def _big_batch(count, size):
    return _batch(*(_message(n, text={"body": f"{n} " + "x" * size}) for n in range(count)))


def test_a_signed_3mb_batch_is_stored_whole(client, channel):
    payload = _big_batch(48, 64_000)
    body = json.dumps(payload).encode()
    assert len(body) > 3_000_000
    response = post_signed(client, body)
    assert response.status_code == 200, response.content
    assert Message.objects.count() == 48
    assert all(len(b) > 64_000 for b in Message.objects.values_list("body", flat=True))


def test_the_rest_of_the_site_keeps_djangos_limit(client, db):
    response = client.post("/login/", {"username": "x" * (3 * 1024 * 1024), "password": "y"})
    assert response.status_code == 400


def _chunked_request(body, signature):
    """A POST as gunicorn hands over a chunked one: no Content-Length, a terminated stream."""
    request = RequestFactory().generic(
        "POST", WEBHOOK_PATH, b"", content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=signature, HTTP_TRANSFER_ENCODING="chunked",
    )  # fmt: skip
    request.META.pop("CONTENT_LENGTH", None)
    request.META["wsgi.input"] = io.BytesIO(body)
    request.META["wsgi.input_terminated"] = True
    return request


def test_a_chunked_body_is_read_with_the_cap(channel, settings):
    body = json.dumps(_batch(_message(1))).encode()
    response = whatsapp_webhook(_chunked_request(body, sign(body, APP_SECRET)))
    assert response.status_code == 200
    assert Message.objects.get().body == "message 1"
    settings.WEBHOOK_MAX_BODY_BYTES = len(body) - 1
    response = whatsapp_webhook(_chunked_request(body, sign(body, APP_SECRET)))
    assert response.status_code == 413


# --- issue 12 item 6: template status in arrival order ---------------------------------------
def _template_event(event, at):
    payload = fixture_json("template_rejected")
    entry = payload["entry"][0]
    entry["time"] = int(at.timestamp())
    entry["changes"][0]["value"].update(event=event, reason="NONE")
    return payload


def test_a_late_approved_does_not_overwrite_a_newer_paused(client, channel):
    template = TemplateFactory(
        channel=channel, name="order_shipped", provider_id="778899001122334", status="APPROVED"
    )
    now = timezone.now().replace(microsecond=0)
    assert post_signed(client, _template_event("PAUSED", now)).status_code == 200
    assert post_signed(client, _template_event("APPROVED", now - timedelta(hours=1))).status_code
    template.refresh_from_db()
    assert template.status == MessageTemplate.Status.PAUSED
    assert template.status_event_at == now
    post_signed(client, _template_event("REINSTATED", now + timedelta(minutes=1)))
    template.refresh_from_db()
    assert template.status == MessageTemplate.Status.APPROVED


# --- issue 12 item 7: timestamps from the future ---------------------------------------------
def test_a_2286_timestamp_does_not_open_the_window_for_centuries(client, channel, caplog):
    before = timezone.now()
    with caplog.at_level(logging.WARNING):
        post_signed(client, _batch(_message(1, timestamp="9999999999")))
    message = Message.objects.get()
    assert before <= message.sent_at <= timezone.now()
    conversation = message.conversation
    assert conversation.last_customer_message_at == message.sent_at
    assert not conversation.is_window_open(timezone.now() + timedelta(hours=25))
    assert "ahead of the server clock" in caplog.text


def test_a_timestamp_a_minute_ahead_is_believed(client, channel):
    ahead = timezone.now().replace(microsecond=0) + timedelta(minutes=1)
    post_signed(client, _batch(_message(1, timestamp=str(int(ahead.timestamp())))))
    assert Message.objects.get().sent_at == ahead


def test_a_status_from_the_future_is_dated_when_it_arrived(client, channel):
    conversation = ConversationFactory(channel=channel)
    reply = MessageFactory(
        conversation=conversation, direction="out", provider_message_id="wamid.OUT1",
        delivery="sent",
    )  # fmt: skip
    status = fixture_json("status_delivered")
    item = status["entry"][0]["changes"][0]["value"]["statuses"][0]
    item.update(id="wamid.OUT1", timestamp="9999999999")
    post_signed(client, status)
    reply.refresh_from_db()
    assert reply.delivered_at < datetime(2100, 1, 1, tzinfo=UTC)
