"""The live pages in Chromium against uvicorn serving config.asgi and the emulator as a real
server (issue 15's acceptance): a customer's message and a colleague's reply appear without a
reload, a tick moves from sent to read, a user without access receives nothing on the wire, the
shortcuts work, and with the socket refused the inbox still updates by polling.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from conversations import services
from conversations.models import Conversation, Message
from conversations.services import autoresolve
from realtime.receivers import BULK_ROWS
from tests.factories import ContactFactory, ConversationFactory, MessageFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NO_RELOAD = "window.__sameDocument = true"


@pytest.fixture
def channel(cast, rt_emulator):
    rt_emulator.add_number(
        phone_number_id=cast.channel.phone_number_id,
        waba_id=cast.channel.waba_id,
        display_phone_number=cast.channel.display_phone_number,
        verified_name=cast.channel.verified_name,
        token=cast.channel.access_token,
    )
    return cast.channel


def _conversation(channel, name, text, *, minutes=5):
    at = timezone.now() - timedelta(minutes=minutes)
    conversation = ConversationFactory(
        channel=channel,
        contact=ContactFactory(profile_name=name),
        opened_at=at,
        last_activity_at=at,
        last_customer_message_at=at,
        last_message_preview=text,
    )
    MessageFactory(conversation=conversation, body=text, created_at=at)
    return conversation


def _live(page):
    page.wait_for_selector(".live-state.live-open", timeout=10_000)
    page.evaluate(NO_RELOAD)


def _not_reloaded(page):
    return page.evaluate("window.__sameDocument === true")


def _frames(page):
    return [json.loads(frame) for frame in page.frames_received]


def test_a_customers_message_appears_in_the_open_conversation_and_the_inbox(
    open_page, cast, channel, rt_emulator
):
    dana = _conversation(channel, "Dana Kim", "My tent arrived torn", minutes=30)
    _conversation(channel, "Lukas Weber", "Do you ship to Austria?", minutes=2)
    inbox = open_page(cast.supervisor, "/inbox/")  # Sam watches the queue,
    detail = open_page(cast.contributor, f"/conversations/{dana.pk}/")  # Carla has Dana open
    _live(inbox)
    _live(detail)
    assert inbox.locator(".conversation-row").first.inner_text().startswith("Lukas Weber")

    rt_emulator.inject(
        channel.phone_number_id, wa_id=dana.contact.wa_id, name="Dana Kim", text="Photo follows"
    )

    detail.locator(".timeline .msg-body", has_text="Photo follows").wait_for(timeout=5_000)
    first = inbox.locator(".conversation-row").first
    first.locator(".preview", has_text="Photo follows").wait_for(timeout=5_000)
    assert first.locator(".contact").inner_text() == "Dana Kim"
    assert "unread" in first.get_attribute("class")  # for Sam: Carla's reading is hers
    assert first.locator(".answer.waiting").count() == 1
    assert _not_reloaded(inbox) and _not_reloaded(detail)


def test_a_colleagues_reply_appears_its_tick_moves_from_sent_to_read_and_replying_asks_first(
    open_page, cast, channel, rt_emulator
):
    dana = _conversation(channel, "Dana Kim", "Is my order on its way?")
    rt_emulator.inject(
        channel.phone_number_id, wa_id=dana.contact.wa_id, name="Dana Kim", text="Hello?"
    )
    rt_emulator.idle(timeout=10)
    page = open_page(cast.contributor, f"/conversations/{dana.pk}/")
    _live(page)
    page.evaluate(
        """window.__ticks = [];
        new MutationObserver(() => {
          document.querySelectorAll('.msg.dir-out .delivery').forEach(el => {
            if (window.__ticks[window.__ticks.length - 1] !== el.textContent) {
              window.__ticks.push(el.textContent);
            }
          });
        }).observe(document.getElementById('timeline'),
                   {subtree: true, childList: true, characterData: true, attributes: true});"""
    )

    dana.refresh_from_db()
    services.reply(dana, author=cast.supervisor, body="It left the warehouse today.")

    page.locator(".msg.dir-out .msg-body", has_text="It left the warehouse today.").wait_for(
        timeout=5_000
    )
    page.wait_for_function("window.__ticks.includes('Read')", timeout=10_000)
    ticks = page.evaluate("window.__ticks")
    assert "Sent" in ticks or "Delivered" in ticks, ticks
    assert ticks.index("Read") > 0
    assert _not_reloaded(page)

    # Carla had the page open before Sam's reply landed: sending asks first.
    asked = []
    page.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.fill("#id_reply_body", "And the tracking number is 123.")
    page.click("#reply-box button[type=submit]")
    page.wait_for_selector("text=Reply queued.")
    assert asked and "colleague replied" in asked[0]
    assert Message.objects.filter(body="And the tracking number is 123.").exists()


def test_a_user_without_access_receives_nothing_on_the_wire(open_page, cast, channel, rt_emulator):
    dana = _conversation(channel, "Dana Kim", "Where is my parcel?")
    outsider = open_page(cast.outsider, "/inbox/")
    agent = open_page(cast.viewer, "/inbox/")
    _live(outsider)
    _live(agent)

    rt_emulator.inject(
        channel.phone_number_id, wa_id=dana.contact.wa_id, name="Dana Kim", text="Secret parcel"
    )
    agent.locator(".preview", has_text="Secret parcel").wait_for(timeout=5_000)
    rt_emulator.idle(timeout=10)
    agent.wait_for_timeout(1_000)  # the delivery pushes, had there been any, are through

    assert any(f["kind"] == "message" for f in _frames(agent))
    leaked = [f for f in _frames(outsider) if f["kind"] not in ("pong", "access")]
    assert not [f for f in leaked if not f["kind"].startswith("routing.")]
    assert not any("Secret parcel" in raw or "Dana" in raw for raw in outsider.frames_received)
    assert outsider.locator(".conversation-row").count() == 0


def test_the_shortcuts_work_and_resolving_opens_the_next_conversation(open_page, cast, channel):
    oldest = _conversation(channel, "Ana Alves", "one", minutes=30)
    middle = _conversation(channel, "Ben Brandt", "two", minutes=20)
    _conversation(channel, "Cleo Chen", "three", minutes=10)
    page = open_page(cast.contributor, "/inbox/")
    _live(page)

    page.keyboard.press("j")
    page.keyboard.press("j")
    assert page.locator(".conversation-row.selected .contact").inner_text() == "Ben Brandt"
    page.keyboard.press("k")
    assert page.locator(".conversation-row.selected .contact").inner_text() == "Cleo Chen"
    page.keyboard.press("?")
    assert page.locator("#shortcuts").is_visible()
    page.keyboard.press("Escape")
    page.click("#live-help-open")  # the same help with the mouse
    assert page.locator("#shortcuts").is_visible()
    page.click("#shortcuts button")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "id_q"
    page.locator("#id_q").blur()

    page.keyboard.press("j")  # Ben
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/conversations/{middle.pk}/")
    _live(page)
    page.keyboard.press("a")
    page.wait_for_selector("text=Assigned to")
    middle.refresh_from_db()
    assert middle.assignee == cast.contributor

    page.fill("#id_reply_body", "Sent with the keyboard.")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("text=Reply queued.")
    assert Message.objects.filter(conversation=middle, body="Sent with the keyboard.").exists()

    page.locator("#id_reply_body").blur()
    page.keyboard.press("e")
    page.wait_for_url(f"**/conversations/{oldest.pk}/")  # the next one of the queue
    middle.refresh_from_db()
    assert middle.status == Conversation.Status.RESOLVED


def test_with_the_socket_refused_the_inbox_still_updates_by_polling(
    chromium, live_desk, cast, channel, rt_emulator
):
    from tests.realtime.conftest import session_cookie

    dana = _conversation(channel, "Dana Kim", "Still waiting", minutes=30)
    context = chromium.new_context()
    context.add_cookies(
        [{"name": "sessionid", "value": session_cookie(cast.viewer), "url": live_desk.url}]
    )
    # Every socket refused, as a proxy without the Upgrade headers would.
    context.add_init_script("window.WebSocket = function () { throw new Error('refused'); };")
    page = context.new_page()
    page.goto(live_desk.url + "/inbox/")
    page.evaluate(NO_RELOAD)
    assert page.evaluate("window.deskLive.connected") is False

    rt_emulator.inject(
        channel.phone_number_id, wa_id=dana.contact.wa_id, name="Dana Kim", text="Polled in"
    )
    page.locator(".preview", has_text="Polled in").wait_for(timeout=15_000)
    assert _not_reloaded(page)
    context.close()


def test_the_customer_phone_shows_the_desks_reply_at_once(
    chromium, live_desk, cast, channel, rt_emulator
):
    """Issue 15 item 6: the emulator's phone page waits on the emulator's changes (a long
    poll) instead of its 10 s refresh, so a reply shows with its ticks as it is sent."""
    dana = _conversation(channel, "Dana Kim", "Any news?")
    rt_emulator.inject(
        channel.phone_number_id, wa_id=dana.contact.wa_id, name="Dana Kim", text="Hello?"
    )
    rt_emulator.idle(timeout=10)
    phone = chromium.new_page()
    phone.goto(
        f"{rt_emulator.base_url}/_emulator/phone?phone_number_id={channel.phone_number_id}"
        f"&wa_id={dana.contact.wa_id}"
    )
    phone.locator(".m.in", has_text="Hello?").wait_for(timeout=5_000)
    phone.wait_for_timeout(500)  # the long poll is waiting

    dana.refresh_from_db()
    services.reply(dana, author=cast.contributor, body="Shipped this morning.")

    bubble = phone.locator(".m.out", has_text="Shipped this morning.")
    bubble.wait_for(timeout=3_000)  # well before the 10 s refresh
    phone.wait_for_function(
        "document.querySelector('.m.out .ticks') &&"
        " document.querySelector('.m.out .ticks').dataset.status === 'read'",
        timeout=5_000,
    )
    phone.close()


@pytest.mark.parametrize(
    ("locale", "viewport"),
    [("en", {"width": 1366, "height": 900}), ("de", {"width": 390, "height": 844})],
)
def test_an_auto_resolve_batch_leaves_the_new_queue_at_once_without_a_reload(
    open_page, cast, channel, locale, viewport
):
    """More than BULK_ROWS conversations resolved in one batch reach the page as one
    ``conversations`` push: the inbox fetches its list once and the resolved rows are gone."""
    channel.auto_resolve_new_after = timedelta(days=1)
    channel.save()
    stale = [
        _conversation(channel, f"Stale {n:02d}", "Anyone there?", minutes=3 * 24 * 60)
        for n in range(BULK_ROWS + 5)
    ]
    _conversation(channel, "Fresh Fiona", "Is the shop open today?", minutes=2)
    Conversation.objects.filter(pk__in=[c.pk for c in stale]).update(
        last_activity_at=timezone.now() - timedelta(days=3)
    )
    inbox = open_page(cast.supervisor, "/inbox/?status=new", locale=locale, viewport=viewport)
    _live(inbox)
    assert inbox.locator(".conversation-row", has_text="Stale").count() > 0

    autoresolve.autoresolve(now=timezone.now())

    inbox.locator(".conversation-row", has_text="Stale").first.wait_for(
        state="detached", timeout=10_000
    )
    assert inbox.locator(".conversation-row").count() == 1
    assert inbox.locator(".conversation-row .contact").inner_text() == "Fresh Fiona"
    assert "conversations" in [f["kind"] for f in _frames(inbox)]
    assert _not_reloaded(inbox)
    # No horizontal scrolling at either size.
    assert inbox.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
