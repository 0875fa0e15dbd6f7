"""The webhook endpoint with signed fixture payloads: what is stored, refused, and answered."""

import json

import pytest

from channels_app.models import MessageTemplate
from conversations.models import Conversation, Event, Message
from conversations.templatetags.desk import failure_text
from tests.factories import ChannelFactory, ConversationFactory, MessageFactory, TemplateFactory
from tests.whatsapp.conftest import WEBHOOK_PATH, fixture_bytes, fixture_json, post_signed

PNID = "109876543210987"


@pytest.fixture
def channel(db):
    return ChannelFactory(phone_number_id=PNID)


def test_handshake_echoes_the_challenge_for_the_right_token(client):
    response = client.get(
        WEBHOOK_PATH,
        {"hub.mode": "subscribe", "hub.verify_token": "test-verify-token", "hub.challenge": "1158"},
    )
    assert response.status_code == 200
    assert response.content == b"1158"
    assert response["Content-Type"].startswith("text/plain")


def test_handshake_with_a_wrong_token_is_403_and_without_params_400(client):
    wrong = {"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"}
    assert client.get(WEBHOOK_PATH, wrong).status_code == 403
    assert client.get(WEBHOOK_PATH).status_code == 400


@pytest.mark.parametrize("signature", [False, "sha256=" + "0" * 64, "garbage"])
def test_bad_or_missing_signature_is_403_and_stores_nothing(client, channel, signature):
    response = post_signed(client, fixture_bytes("text_reply"), signature=signature)
    assert response.status_code == 403
    assert not Message.objects.exists()
    assert not Conversation.objects.exists()


def test_a_payload_signed_with_another_secret_is_refused(client, channel):
    response = post_signed(client, fixture_bytes("text_reply"), secret="someone-else")
    assert response.status_code == 403
    assert not Message.objects.exists()


def test_malformed_json_is_400_with_the_reason(client, channel):
    response = post_signed(client, b'{"object": "whatsapp_business_account", "entry": 5}')
    assert response.status_code == 400
    assert b"entry is not a list" in response.content


def test_csrf_is_not_required_but_get_and_post_are_the_only_methods(client):
    assert client.put(WEBHOOK_PATH).status_code == 405


@pytest.mark.parametrize(
    "name",
    [
        "text_reply",
        "image",
        "video",
        "audio",
        "document",
        "sticker",
        "location",
        "contacts",
        "interactive_button_reply",
        "interactive_list_reply",
        "interactive_nfm_reply",
        "button",
        "reaction",
        "order",
        "system",
        "unsupported",
        "request_welcome",
    ],
)
def test_each_inbound_type_opens_a_new_conversation(client, channel, name):
    response = post_signed(client, fixture_bytes(name))
    assert response.status_code == 200
    message = Message.objects.get()
    assert message.direction == Message.Direction.INBOUND
    assert message.conversation.status == Conversation.Status.NEW
    # The system fixture is a number change: the contact is keyed by the new number (issue 21).
    number = "15555550999" if name == "system" else "15555550123"
    assert message.conversation.contact.wa_id == number
    assert message.channel == channel


def test_a_redelivered_webhook_is_stored_once(client, channel):
    for _ in range(3):
        assert post_signed(client, fixture_bytes("text_reply")).status_code == 200
    assert Message.objects.count() == 1
    assert Conversation.objects.count() == 1


def test_media_message_enqueues_a_download_after_commit(
    client, channel, django_capture_on_commit_callbacks, monkeypatch
):
    from conversations.tasks import download_media

    downloads = []
    monkeypatch.setattr(download_media, "delay", downloads.append)
    with django_capture_on_commit_callbacks() as callbacks:
        post_signed(client, fixture_bytes("image"))
    assert downloads == []  # nothing before the commit
    for callback in callbacks:
        callback()
    message = Message.objects.get()
    assert downloads == [message.pk]
    assert message.type == Message.Type.IMAGE
    assert message.payload["media_id"] == "1043820517731956"
    assert message.body == "the dent, photo 1"


def test_unknown_phone_number_id_is_acknowledged_and_ignored(client, db):
    ChannelFactory(phone_number_id="999")
    response = post_signed(client, fixture_bytes("text_reply"))
    assert response.status_code == 200
    assert json.loads(response.content) == {"unknown_number": 1}
    assert not Message.objects.exists()


def _outbound(channel, **kwargs):
    conversation = ConversationFactory(channel=channel)
    defaults = {"direction": "out", "provider_message_id": "wamid.OUT1", "delivery": "sent"}
    return MessageFactory(conversation=conversation, **{**defaults, **kwargs})


def _status(status, wamid="wamid.OUT1", **extra):
    payload = fixture_json("status_delivered")
    item = payload["entry"][0]["changes"][0]["value"]["statuses"][0]
    item.update({"id": wamid, "status": status, **extra})
    return payload


def test_statuses_out_of_order_never_move_backwards(client, channel):
    message = _outbound(channel)
    for status in ("read", "delivered", "sent", "delivered"):
        assert post_signed(client, _status(status)).status_code == 200
    message.refresh_from_db()
    assert message.delivery == Message.Delivery.READ
    assert message.read_at is not None and message.delivered_at is not None


def test_failed_status_marks_the_reply_failed_with_a_reason_and_an_event(client, channel):
    message = _outbound(channel)
    post_signed(client, fixture_bytes("status_failed_131047"))
    post_signed(client, fixture_bytes("status_failed_131047"))  # redelivered
    message.refresh_from_db()
    assert message.delivery == Message.Delivery.FAILED
    assert message.failure_code == 131047
    assert "24-hour customer service window is closed" in failure_text(message)
    assert Event.objects.filter(kind=Event.Kind.REPLY_FAILED).count() == 1


def test_delivered_after_failed_proves_delivery(client, channel):
    message = _outbound(channel)
    post_signed(client, fixture_bytes("status_failed_131047"))
    post_signed(client, _status("delivered"))
    message.refresh_from_db()
    assert message.delivery == Message.Delivery.DELIVERED
    assert message.failure_reason == ""


def test_status_overtaking_the_send_response_is_matched_by_callback_data(client, channel):
    message = _outbound(channel, provider_message_id=None, delivery="sending")
    post_signed(
        client, _status("delivered", wamid="wamid.EARLY", biz_opaque_callback_data=str(message.pk))
    )
    message.refresh_from_db()
    assert (message.provider_message_id, message.delivery) == ("wamid.EARLY", "delivered")


def test_template_status_update_changes_the_template(client, channel):
    template = TemplateFactory(
        channel=channel,
        name="order_shipped",
        provider_id="778899001122334",
        status=MessageTemplate.Status.PENDING,
    )
    assert post_signed(client, fixture_bytes("template_rejected")).status_code == 200
    template.refresh_from_db()
    assert template.status == MessageTemplate.Status.REJECTED
    assert template.rejection_reason.startswith("INVALID_FORMAT")
