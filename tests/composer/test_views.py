"""The composer's POST actions at the HTTP edge: a refusal says why (400 with the reason for a
script, a message on the page otherwise), a reader without the reply role gets 403, nothing is
stored for a refused request."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from conversations.models import Message
from tests.factories import ConversationFactory, MessageFactory

pytestmark = pytest.mark.django_db
FETCH = {"HTTP_X_REQUESTED_WITH": "fetch"}


@pytest.fixture
def conversation(cast):
    now = timezone.now()
    conversation = ConversationFactory(
        channel=cast.channel,
        opened_at=now - timedelta(minutes=5),
        last_customer_message_at=now - timedelta(minutes=5),
    )
    MessageFactory(conversation=conversation, body="hi", provider_message_id="wamid.hi")
    return conversation


def test_a_file_whatsapp_refuses_is_a_400_with_the_reason(client, cast, conversation):
    client.force_login(cast.contributor)
    response = client.post(
        f"/conversations/{conversation.pk}/compose/attach/",
        {"files": [SimpleUploadedFile("logo.svg", b"<svg/>", "image/svg+xml")]},
        **FETCH,
    )
    assert response.status_code == 400
    assert "cannot be sent on WhatsApp" in response.content.decode()
    assert not Message.objects.filter(direction="out").exists()


def test_without_a_script_the_refusal_is_a_message_on_the_page(client, cast, conversation):
    client.force_login(cast.contributor)
    files = [SimpleUploadedFile(f"{i}.png", b"\x89PNG", "image/png") for i in range(11)]
    response = client.post(
        f"/conversations/{conversation.pk}/compose/attach/", {"files": files}, follow=True
    )
    assert response.status_code == 200
    assert "At most 10 attachments can be sent at once." in response.content.decode()
    assert not Message.objects.filter(direction="out").exists()


def test_limits_of_buttons_and_lists_come_back_as_reasons(client, cast, conversation):
    client.force_login(cast.contributor)
    base = f"/conversations/{conversation.pk}/compose/"
    response = client.post(
        base + "list/",
        {"body": "Pick", "button": "Topics", "rows": "\n".join("abcdefghijk")},
        **FETCH,
    )
    assert (response.status_code, response.content.decode()) == (400, "A list has one to ten rows.")
    response = client.post(
        base + "buttons/", {"body": "?", "button_1": "Same", "button_2": "Same"}, **FETCH
    )
    assert response.status_code == 400
    assert "different title" in response.content.decode()
    response = client.post(base + "contact/", {"name": "Sam"}, **FETCH)
    assert "phone number or an email" in response.content.decode()


def test_a_viewer_cannot_use_the_composer(client, cast, conversation):
    client.force_login(cast.viewer)
    message = conversation.messages.get()
    for path in ("compose/location/", f"messages/{message.pk}/react/"):
        response = client.post(
            f"/conversations/{conversation.pk}/{path}",
            {"latitude": "1", "longitude": "2", "emoji": "👍"},
        )
        assert response.status_code == 403
    assert not Message.objects.filter(direction="out").exists()


def test_a_location_and_a_reaction_are_queued(client, cast, conversation, monkeypatch):
    from conversations.tasks import dispatch_message

    queued = []
    monkeypatch.setattr(dispatch_message, "delay", queued.append)
    client.force_login(cast.contributor)
    message = conversation.messages.get()
    response = client.post(
        f"/conversations/{conversation.pk}/compose/location/",
        {"latitude": "52.52", "longitude": "13.405", "name": "Pier 5", "reply_to": "wamid.hi"},
        **FETCH,
    )
    assert response.status_code == 200
    response = client.post(
        f"/conversations/{conversation.pk}/messages/{message.pk}/react/", {"emoji": "👍"}, **FETCH
    )
    assert response.status_code == 200
    location, reaction = Message.objects.filter(direction="out").order_by("pk")
    assert (location.type, location.payload["latitude"], location.reply_to_provider_id) == (
        "location", 52.52, "wamid.hi",
    )  # fmt: skip
    assert (reaction.type, reaction.payload["message_id"]) == ("reaction", "wamid.hi")
