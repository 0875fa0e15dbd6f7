"""Every inbound message type visible in the thread, end to end (issue 16 items 3 and 4): the
emulator as a real HTTP server sends each type of the reference as a signed webhook, the desk
stores it, and the conversation page's thread shows it (never a blank row). Media downloads
that fail are retried from the media sweep's due time until the file arrives or the last try."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from channels_app.access import Role
from conversations import media
from conversations.models import Message
from conversations.services import outbound
from tests.factories import GrantFactory, UserFactory
from tests.whatsapp.conftest import FIXTURES, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
CUSTOMER = "15555550123"


@pytest.fixture
def agent(wa_channel):
    user = UserFactory(username="carla", first_name="Carla")
    GrantFactory(channel=wa_channel, user=user, role=Role.CONTRIBUTOR)
    return user


def fixture_message(name: str) -> dict:
    """The message object of a webhook fixture (tests/fixtures/whatsapp/<name>.json)."""
    data = json.loads((FIXTURES / f"{name}.json").read_text())
    return data["entry"][0]["changes"][0]["value"]["messages"][0]


def customer_sends(emulator, channel, **kwargs) -> Message:
    wamid = emulator.inject(channel.phone_number_id, wa_id=CUSTOMER, name="Dana", **kwargs)
    message = wait_for(
        lambda: Message.objects.filter(provider_message_id=wamid).first(), timeout=10
    )
    assert message is not None, f"{kwargs.get('type')} never arrived"
    return message


def thread_html(client, user, conversation) -> str:
    client.force_login(user)
    response = client.get(f"/conversations/{conversation.pk}/?fragment=thread")
    assert response.status_code == 200
    return response.content.decode()


def reactions_of(row: str) -> str:
    """The reactions shown on a row (its <ul class="reactions">), "" when none."""
    if '<ul class="reactions"' not in row:
        return ""
    start = row.index('<ul class="reactions"')
    return row[start : row.index("</ul>", start)]


def row_of(html: str, message: Message) -> str:
    start = html.index(f'id="message-{message.pk}"')
    end = html.find("\n<li ", start)
    return html[start : end if end != -1 else len(html)]


# Each type of the reference's §1.4, as the fixture carries it, and what its row must show.
STRUCTURED = [
    ("location", "location", "52.52"),
    ("contacts", "contacts", "Sam Lee"),
    ("interactive_button_reply", "interactive", "resched_yes"),
    ("interactive_list_reply", "interactive", "topic_track"),
    ("button", "button", "STOP_SHIPPING_UPDATES"),
    ("order", "order", "two please"),
    ("unsupported", "unsupported", "cannot show"),
    ("request_welcome", "unsupported", "cannot show"),
]


@pytest.mark.parametrize(("fixture", "stored_type", "shown"), STRUCTURED)
def test_each_structured_type_in_is_visible(
    emulator, wa_channel, agent, client, fixture, stored_type, shown
):
    original = fixture_message(fixture)
    kind = original["type"]
    message = {k: v for k, v in original.items() if k not in ("from", "id", "timestamp", "context")}
    if fixture == "location":
        message["location"] = {"latitude": 52.52, "longitude": 13.405, "name": "Pier 5 Store"}
    if fixture == "contacts":
        message["contacts"] = [
            {"name": {"formatted_name": "Sam Lee"}, "phones": [{"phone": "+1 555 0100"}]}
        ]
    stored = customer_sends(emulator, wa_channel, type=kind, message=message)
    assert stored.type == stored_type
    row = row_of(thread_html(client, agent, stored.conversation), stored)
    assert shown in row
    assert 'class="msg-body"></div>' not in row.replace(" ", "") or shown in row


def test_a_button_reply_stores_its_id_and_title_and_a_template_button_its_payload(
    emulator, wa_channel, agent
):
    answer = customer_sends(
        emulator, wa_channel, type="interactive", text="Yes, move it",
        message={"interactive": {"type": "button_reply",
                                 "button_reply": {"id": "resched_yes", "title": "Yes, move it"}}},
    )  # fmt: skip
    assert answer.payload["interactive_type"] == "button_reply"
    assert (answer.payload["id"], answer.body) == ("resched_yes", "Yes, move it")
    quick = customer_sends(
        emulator, wa_channel, type="button",
        message={"button": {"payload": "STOP_SHIPPING_UPDATES", "text": "Stop updates"}},
    )  # fmt: skip
    assert (quick.payload["payload"], quick.body) == ("STOP_SHIPPING_UPDATES", "Stop updates")


@pytest.mark.parametrize(
    ("kind", "mime", "content", "shown"),
    [
        ("image", "image/png", None, "<img"),
        ("video", "video/mp4", b"\0\0\0\x18ftypmp42", "<video"),
        ("audio", "audio/ogg", b"OggS voice", "<audio"),
        ("document", "application/pdf", b"%PDF-1.4", "download"),
        ("sticker", "image/webp", b"RIFF....WEBPVP8 ", "<img"),
    ],
)
def test_each_media_type_in_is_downloaded_and_shown(
    emulator, wa_channel, agent, client, kind, mime, content, shown
):
    extra = {"media": (content, mime, f"file.{kind}")} if content else {}
    stored = customer_sends(emulator, wa_channel, type=kind, voice=kind == "audio", **extra)
    conversation = stored.conversation
    assert "Attachment is being downloaded…" in row_of(
        thread_html(client, agent, conversation), stored
    )
    assert media.download_inbound_media(stored.pk).startswith("whatsapp/")
    row = row_of(thread_html(client, agent, conversation), stored)
    assert shown in row
    if kind == "audio":
        assert "Voice message" in row


def test_a_download_answered_503_three_times_then_200_ends_with_the_file(
    emulator, wa_channel, agent, client
):
    stored = customer_sends(emulator, wa_channel, type="image", text="the dent")
    emulator.media_errors(503, 3)
    now = timezone.now()
    outcomes = []
    for _try in range(4):
        queued = []
        # The sweep queues it only once its due time has come, never before.
        media.sweep_media(now=now, enqueue=queued.append)
        if outcomes:
            assert queued == []
            now = Message.objects.get(pk=stored.pk).media_due_at
            media.sweep_media(now=now, enqueue=queued.append)
            assert queued == [stored.pk]
        outcomes.append(media.download_inbound_media(stored.pk, now=now))
        html = row_of(thread_html(client, agent, stored.conversation), stored)
        if outcomes[-1] == "retry":
            assert "Attachment is being downloaded…" in html
        now += timedelta(seconds=1)
    assert outcomes[:3] == ["retry"] * 3
    assert outcomes[3].startswith("whatsapp/")
    stored.refresh_from_db()
    assert stored.payload["download_attempts"] == 3
    assert stored.media_due_at is None
    assert "<img" in row_of(thread_html(client, agent, stored.conversation), stored)


def test_a_download_that_never_succeeds_says_so_after_the_last_try(
    emulator, wa_channel, agent, client
):
    stored = customer_sends(
        emulator, wa_channel, type="document", media=(b"%PDF", "application/pdf", "a.pdf")
    )
    emulator.media_errors(503, media.MAX_DOWNLOAD_ATTEMPTS)
    now = timezone.now()
    results = []
    for _try in range(media.MAX_DOWNLOAD_ATTEMPTS):
        results.append(media.download_inbound_media(stored.pk, now=now))
        due = Message.objects.get(pk=stored.pk).media_due_at
        now = due or now
    assert results == ["retry"] * (media.MAX_DOWNLOAD_ATTEMPTS - 1) + ["failed"]
    row = row_of(thread_html(client, agent, stored.conversation), stored)
    assert "could not be downloaded" in row


def test_a_reaction_appears_on_its_target_both_ways(emulator, wa_channel, agent, client):
    from conversations import services

    first = customer_sends(emulator, wa_channel, text="Is it shipped?")
    reply = services.reply(first.conversation, author=agent, body="Yes, today.")
    assert outbound.dispatch(reply.pk).result == "sent"
    reply.refresh_from_db()
    reaction = customer_sends(
        emulator, wa_channel, type="reaction",
        message={"reaction": {"message_id": reply.provider_message_id, "emoji": "❤️"}},
    )  # fmt: skip
    ours = services.react(first.conversation, author=agent, target=first, emoji="🙏")
    assert outbound.dispatch(ours.pk).result == "sent"
    html = thread_html(client, agent, first.conversation)
    assert "❤️" in reactions_of(row_of(html, reply))
    assert "🙏" in reactions_of(row_of(html, first))
    # Neither reaction is a row of its own.
    assert f'id="message-{reaction.pk}"' not in html
    assert f'id="message-{ours.pk}"' not in html
    # Taking it back removes it.
    customer_sends(
        emulator, wa_channel, type="reaction",
        message={"reaction": {"message_id": reply.provider_message_id, "emoji": ""}},
    )  # fmt: skip
    assert "❤️" not in reactions_of(row_of(thread_html(client, agent, first.conversation), reply))


def test_a_quoted_reply_shows_its_quote_both_ways(emulator, wa_channel, agent, client):
    from conversations import services

    question = customer_sends(emulator, wa_channel, text="Can you move it to Thursday?")
    answer = services.reply(
        question.conversation, author=agent, body="Thursday works.",
        reply_to=question.provider_message_id,
    )  # fmt: skip
    assert outbound.dispatch(answer.pk).result == "sent"
    answer.refresh_from_db()
    thanks = customer_sends(
        emulator, wa_channel, text="Great, thanks", reply_to=answer.provider_message_id
    )
    assert thanks.reply_to_provider_id == answer.provider_message_id
    html = thread_html(client, agent, question.conversation)
    assert "Can you move it to Thursday?" in row_of(html, answer).split("msg-body")[0]
    assert "Thursday works." in row_of(html, thanks).split("msg-body")[0]
    # The customer's phone shows the agent's quote too.
    from devtools.whatsapp_emulator import phone

    shown = phone.chat(emulator, wa_channel.phone_number_id, CUSTOMER)
    assert [m["quote"] for m in shown] == ["", "Can you move it to Thursday?", "Thursday works."]
