"""Attachments customers sent: shown in the thread, downloadable only by who sees the channel."""

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse

from conversations.models import Message
from tests.factories import ConversationFactory, MessageFactory

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


def _media_message(conversation, *, mime, filename=None, content=PNG, stored=True):
    payload = {"media_id": "MEDIA1", "mime_type": mime}
    if filename:
        payload["filename"] = filename
    if stored:
        payload["file"] = default_storage.save(
            f"whatsapp/{conversation.channel_id}/x", ContentFile(content)
        )
    return MessageFactory(
        conversation=conversation, type=Message.Type.IMAGE, body="", payload=payload
    )


@pytest.fixture
def conv(cast):
    return ConversationFactory(channel=cast.channel)


def test_viewer_sees_the_picture_inline_in_the_thread_and_can_open_it(client, cast, conv):
    message = _media_message(conv, mime="image/png")
    client.force_login(cast.viewer)
    url = reverse("conversations:attachment", args=[conv.pk, message.pk])

    page = client.get(reverse("conversations:detail", args=[conv.pk]))
    assert f'<img src="{url}"' in page.content.decode()

    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert not response["Content-Disposition"].startswith("attachment")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == PNG


def test_a_document_is_a_download_that_cannot_run_as_a_page(client, cast, conv):
    message = _media_message(
        conv, mime="text/html", filename="invoice.html", content=b"<script>alert(1)</script>"
    )
    client.force_login(cast.contributor)
    response = client.get(reverse("conversations:attachment", args=[conv.pk, message.pk]))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="invoice.html"')
    assert "sandbox" in response["Content-Security-Policy"]


def test_outsider_gets_the_same_404_as_for_a_missing_file(client, cast, conv):
    message = _media_message(conv, mime="image/png")
    client.force_login(cast.outsider)
    url = reverse("conversations:attachment", args=[conv.pk, message.pk])
    assert client.get(url).status_code == 404


def test_a_message_of_another_conversation_is_not_reachable_through_this_one(client, cast, conv):
    other = ConversationFactory(channel=cast.other_channel)
    message = _media_message(other, mime="image/png")
    client.force_login(cast.admin)
    url = reverse("conversations:attachment", args=[conv.pk, message.pk])
    assert client.get(url).status_code == 404


def test_not_yet_downloaded_attachment_says_so_and_is_404(client, cast, conv):
    message = _media_message(conv, mime="image/jpeg", stored=False)
    client.force_login(cast.viewer)
    page = client.get(reverse("conversations:detail", args=[conv.pk])).content.decode()
    assert "Attachment is being downloaded" in page
    url = reverse("conversations:attachment", args=[conv.pk, message.pk])
    assert client.get(url).status_code == 404


def test_anonymous_is_sent_to_login(client, cast, conv):
    message = _media_message(conv, mime="image/png")
    response = client.get(reverse("conversations:attachment", args=[conv.pk, message.pk]))
    assert response.status_code == 302
    assert "/login" in response["Location"]
