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
