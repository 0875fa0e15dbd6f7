"""The composer's messages out, end to end: the desk against the emulator as a real HTTP server
(issue 16 items 2 and 4). Each message is queued through conversations.services, dispatched by
the outbox, uploaded when it is a file, and checked in what the emulator received."""

import base64
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from channels_app.access import Role
from channels_app.whatsapp import outgoing
from conversations import services
from conversations.models import Message
from conversations.services import outbound
from tests.factories import GrantFactory, UserFactory
from tests.whatsapp.conftest import wait_for

pytestmark = pytest.mark.django_db(transaction=True)
CUSTOMER = "15555550123"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
VOICE_WEBM = Path(__file__).resolve().parent.parent / "fixtures" / "voice" / "recording.webm"


@pytest.fixture
def agent(wa_channel):
    user = UserFactory(username="carla", first_name="Carla")
    GrantFactory(channel=wa_channel, user=user, role=Role.CONTRIBUTOR)
    return user


@pytest.fixture
def inbound(emulator, wa_channel):
    """The customer's first message: the conversation, its 24-hour window open."""
    emulator.inject(wa_channel.phone_number_id, wa_id=CUSTOMER, name="Dana", text="Hi there")
    message = wait_for(lambda: Message.objects.filter(body="Hi there").first())
    assert message is not None
    return message


def dispatch_all(messages):
    return [outbound.dispatch(m.pk).result for m in messages]


def attachment(name, mime, content):
    return services.Attachment(
        name=name, mime=mime, size=len(content), file=SimpleUploadedFile(name, content, mime)
    )


def delivered(message, state=Message.Delivery.READ):
    return wait_for(lambda: Message.objects.get(pk=message.pk).delivery == state)


def test_five_attachments_are_five_sends_with_the_caption_once(
    emulator, wa_channel, inbound, agent
):
    files = [attachment(f"photo{i}.png", "image/png", PNG + bytes([i])) for i in range(4)]
    files.append(attachment("invoice.pdf", "application/pdf", b"%PDF-1.4 invoice"))
    queued = services.send_attachments(
        inbound.conversation, author=agent, files=files, caption="Your parcel, five views"
    )
    assert [m.type for m in queued] == ["image"] * 4 + ["document"]
    assert dispatch_all(queued) == ["sent"] * 5
    sends = emulator.sends(wa_channel.phone_number_id)
    assert [s["type"] for s in sends] == ["image"] * 4 + ["document"]
    captions = [s["request"][s["type"]].get("caption") for s in sends]
    assert captions == ["Your parcel, five views", None, None, None, None]
    assert sends[-1]["request"]["document"]["filename"] == "invoice.pdf"
    # Uploaded first (POST /{phone-number-id}/media), then sent by id: the bytes arrived intact.
    for send, sent_file in zip(sends, files, strict=True):
        stored = emulator.media[send["request"][send["type"]]["id"]]
        sent_file.file.seek(0)
        assert stored["content"] == sent_file.file.read()
    # Each attachment has its own delivery state.
    for message in queued:
        assert delivered(message)
    assert (
        len({m.provider_message_id for m in Message.objects.filter(pk__in=[q.pk for q in queued])})
        == 5
    )


def test_a_file_whatsapp_refuses_is_refused_before_any_upload(emulator, wa_channel, inbound, agent):
    big = attachment("huge.png", "image/png", PNG + b"\0" * (5 * 2**20))
    with pytest.raises(services.DomainError, match="WhatsApp takes at most 5 MB for a picture"):
        services.send_attachments(inbound.conversation, author=agent, files=[big])
    svg = attachment("logo.svg", "image/svg+xml", b"<svg/>")
    with pytest.raises(services.DomainError, match="cannot be sent on WhatsApp"):
        services.send_attachments(inbound.conversation, author=agent, files=[svg])
    assert not Message.objects.filter(direction="out").exists()
    assert emulator.sends(wa_channel.phone_number_id) == []


def test_a_failed_send_is_retried_without_uploading_again(emulator, wa_channel, inbound, agent):
    [message] = services.send_attachments(
        inbound.conversation, author=agent, files=[attachment("a.png", "image/png", PNG)]
    )
    uploads_before = len(emulator.media)
    emulator.http_errors(503, 1)
    first = outbound.dispatch(message.pk)
    assert first.result == "retry"
    message.refresh_from_db()
    media_id = message.payload["media_id"]
    assert outbound.dispatch(message.pk).result == "sent"
    assert len(emulator.media) == uploads_before + 1
    [send] = emulator.sends(wa_channel.phone_number_id)
    assert send["request"]["image"]["id"] == media_id


def test_a_voice_note_goes_as_ogg_opus_with_voice_true(emulator, wa_channel, inbound, agent):
    from channels_app.whatsapp import voice

    ogg = voice.as_voice_note(VOICE_WEBM.read_bytes(), "audio/webm;codecs=opus")
    [message] = services.send_attachments(
        inbound.conversation,
        author=agent,
        files=[services.Attachment("voice.ogg", "audio/ogg", len(ogg), content=ogg, voice=True)],
    )
    assert outbound.dispatch(message.pk).result == "sent"
    [send] = emulator.sends(wa_channel.phone_number_id)
    assert send["type"] == "audio" and send["request"]["audio"]["voice"] is True
    stored = emulator.media[send["request"]["audio"]["id"]]
    assert stored["mime_type"] == "audio/ogg" and stored["content"][:4] == b"OggS"
    assert b"OpusHead" in stored["content"][:100]


@pytest.mark.parametrize(
    ("name", "mime", "kind"),
    [
        ("clip.mp4", "video/mp4", "video"),
        ("song.mp3", "audio/mpeg", "audio"),
        ("notes.txt", "text/plain", "document"),
    ],
)
def test_video_audio_and_documents_go_out(emulator, wa_channel, inbound, agent, name, mime, kind):
    [message] = services.send_attachments(
        inbound.conversation, author=agent, files=[attachment(name, mime, b"0123456789")]
    )
    assert message.type == kind
    assert outbound.dispatch(message.pk).result == "sent"
    [send] = emulator.sends(wa_channel.phone_number_id)
    assert send["type"] == kind
    assert delivered(message)


def test_a_quoted_text_reply_carries_the_context(emulator, wa_channel, inbound, agent):
    reply = services.reply(
        inbound.conversation, author=agent, body="Yes, today.",
        reply_to=inbound.provider_message_id,
    )  # fmt: skip
    assert outbound.dispatch(reply.pk).result == "sent"
    [send] = emulator.sends(wa_channel.phone_number_id)
    assert send["request"]["context"] == {"message_id": inbound.provider_message_id}
    # The customer's phone shows the quote.
    shown = emulator.chat(wa_channel.phone_number_id, CUSTOMER)[-1]
    assert shown["context"] == inbound.provider_message_id


def test_a_quote_from_another_conversation_is_refused(emulator, wa_channel, inbound, agent):
    with pytest.raises(services.DomainError, match="not part of this conversation"):
        services.reply(inbound.conversation, author=agent, body="x", reply_to="wamid.elsewhere")


def test_reaction_buttons_list_location_and_contact_card_go_out(
    emulator, wa_channel, inbound, agent
):
    conversation = inbound.conversation
    queued = [
        services.react(conversation, author=agent, target=inbound, emoji="👍"),
        services.send_structured(
            conversation, author=agent, kind="interactive",
            body=outgoing.buttons(body="Thursday?", options=[("yes", "Yes"), ("no", "No")]),
        ),
        services.send_structured(
            conversation, author=agent, kind="interactive",
            body=outgoing.list_message(
                body="What do you need?", button="Topics",
                rows=[(f"r{i}", f"Topic {i}", "") for i in range(10)],
            ),
        ),
        services.send_structured(
            conversation, author=agent, kind="location",
            body=outgoing.location(latitude=52.52, longitude=13.405, name="Pier 5 Store"),
        ),
        services.send_structured(
            conversation, author=agent, kind="contacts",
            body=outgoing.contact_card(name="Sam Lee", phone="+1 555 010 0199"),
            reply_to=inbound.provider_message_id,
        ),
    ]  # fmt: skip
    assert dispatch_all(queued) == ["sent"] * 5
    sends = emulator.sends(wa_channel.phone_number_id)
    assert [s["type"] for s in sends] == [
        "reaction", "interactive", "interactive", "location", "contacts",
    ]  # fmt: skip
    assert sends[0]["request"]["reaction"] == {
        "message_id": inbound.provider_message_id,
        "emoji": "👍",
    }
    assert len(sends[2]["request"]["interactive"]["action"]["sections"][0]["rows"]) == 10
    assert sends[4]["request"]["context"] == {"message_id": inbound.provider_message_id}
    # The customer's phone shows the reaction on its message, not as a bubble of its own.
    chat = emulator.chat(wa_channel.phone_number_id, CUSTOMER)
    from devtools.whatsapp_emulator import phone

    shown = phone.chat(emulator, wa_channel.phone_number_id, CUSTOMER)
    assert shown[0]["reactions"] == {"out": "👍"}
    assert "reaction" not in [m["type"] for m in shown]
    assert len(chat) == 6
    for message in queued:
        assert delivered(message)


def test_whatsapp_limits_of_buttons_and_lists_are_refused_with_the_reason():
    with pytest.raises(outgoing.Refused, match="one to three buttons"):
        outgoing.buttons(body="?", options=[(str(i), f"B{i}") for i in range(4)])
    with pytest.raises(outgoing.Refused, match="at most 20 characters"):
        outgoing.buttons(body="?", options=[("a", "A title far too long to fit")])
    with pytest.raises(outgoing.Refused, match="one to ten rows"):
        outgoing.list_message(
            body="?", button="Pick", rows=[(str(i), f"R{i}", "") for i in range(11)]
        )


def test_reacting_to_a_message_whatsapp_never_accepted_is_refused(wa_channel, inbound, agent):
    pending = Message.objects.create(
        conversation=inbound.conversation, channel=wa_channel, direction="out", type="text",
        body="not sent yet", delivery="queued", created_at=inbound.created_at,
    )  # fmt: skip
    with pytest.raises(services.DomainError, match="cannot be reacted to"):
        services.react(inbound.conversation, author=agent, target=pending, emoji="👍")
