"""The emulator's customer phone: ticks on every reply, attachments both ways, and a customer
who sends a picture or a document that the desk downloads through the Graph media endpoints."""

import base64

import httpx
import pytest
from django.core.files.storage import default_storage

from conversations.models import Message
from conversations.services import outbound
from devtools.whatsapp_emulator import TINY_PNG
from tests.whatsapp.conftest import queue_reply, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
CUSTOMER = "15555550199"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def phone_chat(emulator, channel) -> list[dict]:
    return httpx.get(
        f"{emulator.base_url}/_emulator/api/chat",
        params={"phone_number_id": channel.phone_number_id, "wa_id": CUSTOMER},
    ).json()


def send_from_phone(emulator, channel, *, filename, mime_type, content, caption=""):
    response = httpx.post(
        f"{emulator.base_url}/_emulator/api/send-media",
        json={
            "phone_number_id": channel.phone_number_id,
            "from": CUSTOMER,
            "name": "Dana Reyes",
            "caption": caption,
            "filename": filename,
            "mime_type": mime_type,
            "data": base64.b64encode(content).decode(),
        },
    )
    assert response.status_code == 200, response.text
    return response.json()["id"]


@pytest.fixture
def media_from_emulator(emulator, settings, eager_tasks):
    """The desk may download from the emulator (B's allow-list; http for the listed host)."""
    settings.WHATSAPP_MEDIA_HOSTS = [emulator.base_url]
    return emulator


def test_each_reply_shows_its_ticks_on_the_phone_sent_delivered_read(emulator, wa_channel):
    emulator.inject(wa_channel.phone_number_id, wa_id=CUSTOMER, name="Dana", text="Hi")
    assert wait_for(lambda: Message.objects.filter(body="Hi").first())
    emulator.config.auto_read = False  # the customer has not opened the chat yet
    try:
        reply = queue_reply(Message.objects.get(body="Hi").conversation, "Parcel left today.")
        outbound.dispatch(reply.pk)
        assert emulator.idle()
        [_hi, shown] = phone_chat(emulator, wa_channel)
        assert (shown["direction"], shown["text"], shown["status"]) == (
            "out",
            "Parcel left today.",
            "delivered",
        )
    finally:
        emulator.config.auto_read = True
    second = queue_reply(reply.conversation, "It arrives tomorrow.")
    outbound.dispatch(second.pk)
    assert emulator.idle()
    assert [m["status"] for m in phone_chat(emulator, wa_channel) if m["direction"] == "out"] == [
        "delivered",
        "read",
    ]


def test_a_failed_reply_shows_failed_with_metas_error_on_the_phone(emulator, wa_channel):
    emulator.inject(wa_channel.phone_number_id, wa_id=CUSTOMER, name="Dana", text="Hello")
    assert wait_for(lambda: Message.objects.filter(body="Hello").first())
    emulator.fail_next_send(131026, mode="async")
    reply = queue_reply(Message.objects.get(body="Hello").conversation, "Are you there?")
    outbound.dispatch(reply.pk)
    assert emulator.idle()
    shown = phone_chat(emulator, wa_channel)[-1]
    assert (shown["status"], shown["error"]) == ("failed", "Message undeliverable (131026)")


@pytest.mark.parametrize(
    ("filename", "mime_type", "content", "kind"),
    [
        ("tent-seam.png", "image/png", TINY_PNG, "image"),
        ("receipt-4471.pdf", "application/pdf", PDF, "document"),
    ],
)
def test_the_customer_sends_a_file_and_the_desk_downloads_it_through_the_graph_api(
    media_from_emulator, wa_channel, filename, mime_type, content, kind
):
    emulator = media_from_emulator
    send_from_phone(
        emulator, wa_channel, filename=filename, mime_type=mime_type, content=content,
        caption="Order 4471",
    )  # fmt: skip
    message = wait_for(lambda: Message.objects.filter(type=kind, direction="in").first())
    assert message is not None
    media_id = message.payload["media_id"]
    assert media_id.isdigit()
    assert wait_for(lambda: Message.objects.get(pk=message.pk).payload.get("file"))
    stored = Message.objects.get(pk=message.pk).payload
    with default_storage.open(stored["file"]) as handle:
        assert handle.read() == content
    # The phone shows the attachment it sent: the picture inline, the document as a link.
    [shown] = phone_chat(emulator, wa_channel)
    assert shown["media"]["mime_type"] == mime_type
    assert shown["media"]["filename"] == filename
    served = httpx.get(f"{emulator.base_url}{shown['media']['url']}")
    assert served.content == content and served.headers["content-type"] == mime_type


def test_the_phone_refuses_a_file_whatsapp_would_not_carry(emulator, wa_channel):
    response = httpx.post(
        f"{emulator.base_url}/_emulator/api/send-media",
        json={
            "phone_number_id": wa_channel.phone_number_id,
            "from": CUSTOMER,
            "filename": "setup.exe",
            "mime_type": "application/x-msdownload",
            "data": base64.b64encode(b"MZ").decode(),
        },
    )
    assert response.status_code == 400
    assert "application/x-msdownload" in response.text
    assert phone_chat(emulator, wa_channel) == []


def test_the_phone_lists_its_chats_newest_first(emulator, wa_channel):
    for wa_id, name in (("15555550101", "Ann"), ("15555550102", "Ben")):
        emulator.inject(wa_channel.phone_number_id, wa_id=wa_id, name=name, text=f"I am {name}")
    chats = httpx.get(
        f"{emulator.base_url}/_emulator/api/chats",
        params={"phone_number_id": wa_channel.phone_number_id},
    ).json()
    assert [(c["name"], c["last"]) for c in chats][:2] in (
        [("Ben", "I am Ben"), ("Ann", "I am Ann")],
        [("Ann", "I am Ann"), ("Ben", "I am Ben")],  # same second: either order
    )
