"""Issue 12, item 9: bidi spoofing. Every customer-controlled string on the agent pages is
isolated (<bdi>, or FSI…PDI where no markup can go), and file names lose their bidi controls.

"invoice\u202efdp.exe" must never read as "invoiceexe.pdf", and a name ending in U+202E must
never reorder the text after it.
"""

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from channels_app.whatsapp.media_policy import BIDI_CONTROLS, strip_bidi
from conversations.models import Message
from tests.conversations.test_browser import browser, log_in  # noqa: F401 - fixture
from tests.factories import ContactFactory, ConversationFactory, MessageFactory

RLO = "\u202e"
NAME = f"Dana {RLO}sreyeR"
TEXT = f"Pay to {RLO}1234 5678{RLO} today"
FILE_NAME = f"invoice{RLO}fdp.exe"


@pytest.fixture
def spoofed(cast):
    now = timezone.now()
    contact = ContactFactory(profile_name=NAME)
    earlier = ConversationFactory(
        channel=cast.channel,
        contact=contact,
        status="resolved",
        last_message_preview=TEXT,
        opened_at=now - timedelta(days=3),
    )
    conversation = ConversationFactory(
        channel=cast.channel,
        contact=contact,
        last_message_preview=TEXT,
        opened_at=now - timedelta(hours=1),
        last_customer_message_at=now - timedelta(minutes=5),
    )
    MessageFactory(conversation=conversation, body=TEXT)
    path = default_storage.save("whatsapp/1/1.pdf", ContentFile(b"%PDF-1.4"))
    MessageFactory(
        conversation=conversation,
        type=Message.Type.DOCUMENT,
        body="",
        payload={
            "media_id": "1043820517000001",
            "mime_type": "application/pdf",
            "filename": FILE_NAME,
            "file": path,
        },
    )
    return conversation, earlier


def test_the_inbox_row_isolates_the_name_and_the_preview(client, cast, spoofed):
    client.force_login(cast.viewer)
    html = client.get(reverse("conversations:inbox")).content.decode()
    assert f'<strong class="contact"><bdi>{NAME}</bdi></strong>' in html
    assert f'<div class="preview"><bdi>{TEXT}</bdi></div>' in html


def test_the_conversation_page_isolates_every_customer_string(client, cast, spoofed):
    conversation, _earlier = spoofed
    client.force_login(cast.viewer)
    html = client.get(reverse("conversations:detail", args=[conversation.pk])).content.decode()
    assert f"<title>\u2068{NAME}\u2069 · " in html
    assert f"<h1><bdi>{NAME}</bdi></h1>" in html
    assert f'<div class="msg-body"><bdi>{TEXT}</bdi></div>' in html
    assert f'<span class="muted"><bdi>{TEXT}</bdi></span>' in html  # earlier conversations
    # The file name: no control left, isolated all the same.
    assert ">invoice" in html and FILE_NAME not in html
    assert "download><bdi>invoicefdp.exe</bdi></a>" in html


def test_the_admin_isolates_the_contact_and_the_preview(client, cast, spoofed):
    conversation, _earlier = spoofed
    client.force_login(cast.admin)
    changelist = client.get(reverse("admin:conversations_conversation_changelist"))
    assert f"<bdi>{NAME}</bdi>" in changelist.content.decode()
    page = client.get(
        reverse("admin:conversations_conversation_change", args=[conversation.pk])
    ).content.decode()
    assert f"<bdi>{NAME}</bdi>" in page and f"<bdi>{TEXT}</bdi>" in page
    # Titles and breadcrumbs hold no markup: the name sits between FSI and PDI.
    assert f"\u2068{NAME}\u2069" in str(conversation)
    assert f"\u2068{NAME}\u2069" in page


def test_strip_bidi_removes_every_explicit_control_and_mark():
    assert len(BIDI_CONTROLS) == 12
    text = "a" + "".join(sorted(BIDI_CONTROLS)) + "b"
    assert strip_bidi(text) == "ab"
    assert strip_bidi("עברית.pdf") == "עברית.pdf"  # right-to-left letters stay


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_chromium_isolates_what_the_customer_wrote(browser, live_server, cast, spoofed):  # noqa: F811
    conversation, _earlier = spoofed
    page = browser.new_page()
    log_in(page, live_server, cast.viewer)
    page.goto(f"{live_server.url}/conversations/{conversation.pk}/")
    styles = page.evaluate(
        """() => [...document.querySelectorAll(
              "h1 bdi, .msg-body, .msg-body bdi, a.attachment, a.attachment bdi, .history bdi"
            )].map(e => getComputedStyle(e).unicodeBidi)"""
    )
    assert len(styles) >= 6 and set(styles) == {"isolate"}
    shown = page.inner_text("a.attachment")
    assert shown == "invoicefdp.exe" and not set(shown) & BIDI_CONTROLS
    page.goto(f"{live_server.url}/inbox/")
    assert page.evaluate(
        "() => getComputedStyle(document.querySelector('.contact bdi')).unicodeBidi"
    ) == "isolate"
