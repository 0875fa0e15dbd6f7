"""End to end in a real browser: Debian's Chromium, headless, driven by Playwright.

Skips cleanly when Chromium or Playwright is missing (CI installs both).
"""

import os
import shutil
from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.models import Conversation, Message
from tests.factories import ContactFactory, ConversationFactory, MessageFactory

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    # Newer Chromium upgrades plain-http navigations to https; the live server has no TLS.
    "--disable-features=HttpsUpgrades,HttpsFirstBalancedModeAutoEnable,HttpsFirstModeV2",
]
PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _serve_plain_http(live_server):
    """Reload the live server's middleware under the test settings.

    The session-scoped server built its middleware before the autouse settings fixture ran, so
    SecurityMiddleware still holds the production SECURE_SSL_REDIRECT and would send Chromium to
    https, which the live server does not speak.
    """
    app = live_server.thread.httpd.get_app()
    while app is not None:
        if hasattr(app, "load_middleware"):
            app.load_middleware()
        app = getattr(app, "application", None)


@pytest.fixture
def browser(settings, monkeypatch, live_server):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium is not installed")
    # Playwright's sync API runs an event loop in this thread; the ORM calls made by the test
    # itself are still synchronous and safe.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    # The live server speaks plain http.
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.SECURE_SSL_REDIRECT = False
    settings.SECURE_HSTS_SECONDS = 0
    _serve_plain_http(live_server)
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield instance
        instance.close()


@pytest.fixture
def no_dispatch(monkeypatch):
    from conversations.tasks import dispatch_message

    sent = []
    monkeypatch.setattr(dispatch_message, "delay", sent.append)
    return sent


def log_in(page, live_server, user):
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("form button[type=submit].primary")
    page.wait_for_url(f"{live_server.url}/inbox/")


def test_agent_replies_to_a_new_conversation_and_moves_it_to_pending(
    browser, live_server, cast, no_dispatch
):
    now = timezone.now()
    conversation = ConversationFactory(
        channel=cast.channel,
        contact=ContactFactory(profile_name="Dana Kim"),
        opened_at=now - timedelta(minutes=5),
        last_customer_message_at=now - timedelta(minutes=5),
        last_message_preview="My tent arrived torn",
    )
    MessageFactory(conversation=conversation, body="My tent arrived torn")
    page = browser.new_page()

    log_in(page, live_server, cast.contributor)
    page.click("text=Dana Kim")
    page.wait_for_url(f"**/conversations/{conversation.pk}/")
    assert page.is_visible("text=Reply window open until")

    page.fill("#id_reply_body", "Sorry about that, a new one is on its way.")
    page.click("#reply-box button[type=submit]")
    page.wait_for_selector("text=Reply queued.")
    assert page.is_visible("text=Sorry about that, a new one is on its way.")
    assert page.inner_text(".msg.dir-out .delivery") == "Queued"

    page.click("button.move-pending")
    page.wait_for_selector("#conversation-status:has-text('Pending')")

    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.PENDING
    assert conversation.assignee == cast.contributor
    reply = Message.objects.get(direction=Message.Direction.OUTBOUND)
    assert no_dispatch == [reply.pk]


def test_viewer_sees_no_reply_box(browser, live_server, cast):
    conversation = ConversationFactory(
        channel=cast.channel, last_customer_message_at=timezone.now()
    )
    page = browser.new_page()
    log_in(page, live_server, cast.viewer)
    page.goto(f"{live_server.url}/conversations/{conversation.pk}/")
    assert page.is_visible("#no-reply-role")
    assert page.locator("#reply-box").count() == 0
    assert page.locator("#id_reply_body").count() == 0


def test_earlier_messages_load_in_place_and_the_page_works_without_script(
    browser, live_server, cast, settings
):
    settings.THREAD_PAGE_SIZE = 5
    conv = ConversationFactory(channel=cast.channel)
    start = timezone.now() - timedelta(hours=3)
    sent = [
        MessageFactory(
            conversation=conv, body=f"line {i:02d}", created_at=start + timedelta(minutes=i)
        )
        for i in range(12)
    ]
    page = browser.new_page()
    log_in(page, live_server, cast.viewer)
    page.goto(f"{live_server.url}/conversations/{conv.pk}/")
    bodies = page.locator(".timeline .msg .msg-body")
    assert bodies.all_inner_texts() == [f"line {i:02d}" for i in range(7, 12)]

    page.click("a[data-thread-earlier]")  # fetched and put in place, no navigation
    page.wait_for_function("document.querySelectorAll('.timeline .msg').length === 10")
    assert page.url.endswith(f"/conversations/{conv.pk}/")
    assert bodies.all_inner_texts() == [f"line {i:02d}" for i in range(2, 12)]
    page.click("a[data-thread-earlier]")
    page.wait_for_function("document.querySelectorAll('.timeline .msg').length === 12")
    assert page.locator("a[data-thread-earlier]").count() == 0
    assert page.locator(f"#message-{sent[0].pk}").is_visible()

    # Without JavaScript the same link is a page of its own.
    plain = browser.new_context(java_script_enabled=False).new_page()
    log_in(plain, live_server, cast.viewer)
    plain.goto(f"{live_server.url}/conversations/{conv.pk}/")
    plain.click("a[data-thread-earlier]")
    plain.wait_for_url("**before=*")
    assert plain.locator(".timeline .msg .msg-body").all_inner_texts() == [
        f"line {i:02d}" for i in range(2, 7)
    ]
    assert plain.locator("#thread-later a").first.is_visible()


def signed_in(browser, live_server, user, locale):
    """A page in a browser context of ``locale`` (its Accept-Language) with ``user``'s session
    cookie: the login form is not the subject of the test using it."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    context = browser.new_context(locale=locale)
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    return context.new_page()


def test_an_edit_a_deletion_and_an_app_echo_show_in_english_and_german(
    browser, live_server, cast, no_dispatch, monkeypatch
):
    """Issue 21: Meta's webhooks for them (tests/fixtures/whatsapp/corpus) applied as the
    endpoint applies them, then read by a Contributor and a Supervisor in both languages."""
    import json

    from channels_app.whatsapp import webhooks
    from conversations.services import inbound_events
    from conversations.tasks import download_media
    from tests.conversations.test_inbound_changes import ORIG_IMAGE, PNID, corpus

    monkeypatch.setattr(download_media, "delay", lambda *_: None)
    cast.channel.phone_number_id = PNID
    cast.channel.save(update_fields=["phone_number_id"])
    revoke_image = json.loads(corpus("d21_revoke"))
    message = revoke_image["entry"][0]["changes"][0]["value"]["messages"][0]
    message["id"] += "IMG"
    message["revoke"]["original_message_id"] = ORIG_IMAGE
    for body in (
        corpus("d21_original_text"),
        corpus("d21_edit_text"),
        corpus("d21_original_image"),
        json.dumps(revoke_image).encode(),
        corpus("d21_echo_text"),
    ):
        inbound_events.process_events(webhooks.parse(body))
    conversation = Conversation.objects.get()
    assert no_dispatch == []  # the echo was never sent
    url = f"{live_server.url}/conversations/{conversation.pk}/"

    english = signed_in(browser, live_server, cast.contributor, "en-US")
    english.goto(url)
    thread = english.locator("#timeline")
    assert thread.locator(".msg-body", has_text="My order number is 4471, not 4417").is_visible()
    versions = thread.locator("details.edited")
    assert versions.locator("summary").inner_text() == "edited"
    assert not versions.locator("ol.versions").is_visible()
    versions.locator("summary").click()  # the earlier version on expand
    assert versions.locator("ol.versions li").inner_text().endswith("My order number is 4417")
    assert thread.locator(".deleted").inner_text() == "Deleted by the customer"
    assert "the dent, photo 1" not in thread.inner_text()  # the caption is gone for agents
    echo = thread.locator(".msg.dir-out")
    assert "Hi Dana, this is Jo from the shop" in echo.inner_text()
    assert echo.locator(".via").inner_text() == "sent from the WhatsApp Business app"

    german = signed_in(browser, live_server, cast.contributor, "de-DE")
    german.goto(url)
    thread = german.locator("#timeline")
    assert thread.locator("details.edited summary").inner_text() == "bearbeitet"
    assert thread.locator(".deleted").inner_text() == "Vom Kunden gelöscht"
    assert thread.locator(".via").inner_text() == "aus der WhatsApp-Business-App gesendet"

    supervisor = signed_in(browser, live_server, cast.supervisor, "en-US")
    supervisor.goto(url)
    kept = supervisor.locator("#timeline .deleted-kept")
    assert "the dent, photo 1" in kept.locator("del").inner_text()
    assert "kept for Supervisors until" in kept.inner_text()
