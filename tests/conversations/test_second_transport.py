"""A second medium needs a transport and its registration, nothing else (issue 14 item 3;
docs/architecture.md, "Transports: one seam per medium").

``Pigeon`` below is a whole medium written in the test alone: it parses and verifies its own
webhook body, names its contacts, has no window, and records what it sends. Registered for the
kind "pigeon", its customer's message becomes a conversation through ``/webhooks/pigeon/`` and
the agent's reply leaves through it, with no line of product code knowing it exists. (The kind
is not among ``Channel.Kind``'s choices: the column takes it, and a real medium adds its choice
with the migration that documents it.)
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from channels_app import transports
from channels_app.roles import Role
from channels_app.transports import (
    ContactIdentity,
    InboundMessage,
    MalformedRequest,
    Outgoing,
    SendResult,
)
from conversations import services
from conversations.models import Contact, Conversation, Message
from conversations.services import outbound
from tests.factories import ChannelFactory, GrantFactory, UserFactory

KIND = "pigeon"
KEY = "coo-secret"


class Pigeon:
    """Notes on a pigeon's leg: ``{"loft": <channel address>, "notes": [{"id", "from", "at",
    "text", "name"}]}``, authenticated by an ``X-Pigeon-Key`` header."""

    kind = KIND

    def __init__(self):
        self.sent: list[tuple[int, Outgoing]] = []

    def handshake(self, params):
        return (200, "coo") if params.get("key") == KEY else (403, "no")

    def verify(self, raw, headers):
        return headers.get("X-Pigeon-Key") == KEY

    def load(self, raw):
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise MalformedRequest("not a pigeon's note") from exc
        if not isinstance(data, dict) or not isinstance(data.get("notes"), list):
            raise MalformedRequest("no notes")
        return data

    def count_items(self, loaded):
        return len(loaded["notes"])

    def events(self, loaded):
        return [
            InboundMessage(
                phone_number_id=loaded["loft"],
                provider_message_id=note["id"],
                wa_id=note["from"],
                profile_name=note.get("name", ""),
                sent_at=datetime.fromtimestamp(note["at"], UTC),
                type="text",
                body=note["text"],
            )
            for note in loaded["notes"]
        ]

    def identity(self, *, wa_id, bsuid, profile_name=""):
        return ContactIdentity(
            kind=KIND, wa_id=wa_id, bsuid=bsuid, profile_name=profile_name, phone=""
        )

    def address_of(self, contact):
        return contact.wa_id

    def window_closes_at(self, last_inbound):
        return None  # a pigeon flies whenever

    def window_open(self, last_inbound, at, *, margin=timedelta(0)):
        return True

    def send(self, channel, message):
        self.sent.append((channel.pk, message))
        return SendResult(wamid=f"pigeon.{len(self.sent)}", wa_id=message.to)

    def upload_media(self, channel, *, content, mime_type, filename):
        raise NotImplementedError("pigeons carry no files")

    def fetch_media(self, channel, media_id, *, kind):
        raise NotImplementedError("pigeons carry no files")

    def mark_read(self, channel, *, message_id, typing=False):
        pass  # a pigeon cannot tell


@pytest.fixture
def pigeon():
    transport = transports.register(Pigeon())
    yield transport
    transports.unregister(KIND)


def post_note(client, body: dict, *, key: str = KEY):
    return client.post(
        "/webhooks/pigeon/",
        data=json.dumps(body),
        content_type="application/json",
        headers={"X-Pigeon-Key": key},
    )


def test_the_pigeon_is_a_transport_and_whatsapp_is_registered(pigeon):
    assert isinstance(pigeon, transports.Transport)
    assert transports.get(KIND) is pigeon
    assert transports.kinds() == [KIND, "whatsapp"]
    assert transports.only() is None  # two media: nobody may assume one
    with pytest.raises(transports.UnknownTransport):
        transports.get("carrier-crow")
    with pytest.raises(ValueError, match="already registered"):
        transports.register(type("OtherPigeon", (Pigeon,), {})())


@pytest.mark.django_db
def test_a_note_becomes_a_conversation_and_the_reply_flies_back(
    client, pigeon, django_capture_on_commit_callbacks
):
    channel = ChannelFactory(kind=KIND, phone_number_id="loft-7", display_name="Pigeon post")
    agent = UserFactory(username="paula")
    GrantFactory(channel=channel, user=agent, role=Role.CONTRIBUTOR)
    sent_at = timezone.now().replace(microsecond=0) - timedelta(minutes=3)
    note = {"id": "note-1", "from": "loft-of-dana", "at": sent_at.timestamp(), "text": "Coo?"}

    response = post_note(client, {"loft": "loft-7", "notes": [{**note, "name": "Dana"}]})

    assert response.status_code == 200, response.content
    assert response.json() == {"messages": 1}
    conversation = Conversation.objects.get(channel=channel)
    assert conversation.status == Conversation.Status.NEW
    assert conversation.contact.kind == KIND
    assert (conversation.contact.wa_id, conversation.contact.profile_name) == (
        "loft-of-dana",
        "Dana",
    )
    assert conversation.contact.phone == ""  # the pigeon's identity, not WhatsApp's "+..."
    assert conversation.is_window_open(timezone.now() + timedelta(days=30))  # no window
    received = conversation.messages.get()
    assert (received.body, received.provider_message_id, received.sent_at) == (
        "Coo?",
        "note-1",
        sent_at,
    )

    with django_capture_on_commit_callbacks(execute=False):  # the dispatch runs below
        reply = services.reply(conversation, author=agent, body="Coo coo!")
    assert outbound.dispatch(reply.pk).result == "sent"

    assert pigeon.sent == [
        (
            channel.pk,
            Outgoing(to="loft-of-dana", kind="text", text="Coo coo!", callback_data=str(reply.pk)),
        )
    ]
    reply.refresh_from_db()
    assert (reply.delivery, reply.provider_message_id) == (Message.Delivery.SENT, "pigeon.1")


@pytest.mark.django_db
def test_the_pigeon_webhook_refuses_what_its_transport_refuses(client, pigeon):
    ChannelFactory(kind=KIND, phone_number_id="loft-7")
    assert client.get("/webhooks/pigeon/", {"key": KEY}).content == b"coo"
    assert client.get("/webhooks/pigeon/", {"key": "guess"}).status_code == 403
    assert post_note(client, {"loft": "loft-7", "notes": []}, key="guess").status_code == 403
    bad = client.post(
        "/webhooks/pigeon/", data=b"{", content_type="application/json",
        headers={"X-Pigeon-Key": KEY},
    )  # fmt: skip
    assert (bad.status_code, bad.content) == (400, b"not a pigeon's note")
    assert not Contact.objects.exists()


@pytest.mark.django_db
def test_a_note_to_a_whatsapp_number_is_not_a_pigeons(client, pigeon):
    """The channel is looked up by kind and address: a WhatsApp channel at the same address
    never receives a pigeon's note (and an unregistered kind's path is a 404)."""
    ChannelFactory(phone_number_id="loft-9")  # WhatsApp
    note = {"id": "n", "from": "x", "at": timezone.now().timestamp(), "text": "hi"}
    response = post_note(client, {"loft": "loft-9", "notes": [note]})
    assert response.json() == {"unknown_number": 1}
    assert not Message.objects.exists()
    transports.unregister(KIND)
    assert post_note(client, {"loft": "loft-9", "notes": [note]}).status_code == 404
