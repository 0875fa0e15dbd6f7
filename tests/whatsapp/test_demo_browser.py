"""The demo's first reply, in Chromium, against a live server and the emulator as a real server.

As a newcomer after ``make run``: seed_demo, the emulator learns the database
(``--seed-from-db``), carlos logs in, opens the top conversation in New, replies, and sees the
reply delivered in the desk and with its ticks on the customer's phone page.
"""

import pytest
from django.core.management import call_command
from django.utils import timezone

from conversations.models import Message
from devtools import emulator_history
from devtools.management.commands.seed_demo import DEMO_PASSWORD
from tests.conversations.test_browser import browser  # noqa: F401 - the Chromium fixture
from tests.whatsapp.test_demo_emulator import register_demo_numbers

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
REPLY = "So sorry about the seam! A replacement tent leaves today."


@pytest.fixture
def demo(emulator, eager_tasks):
    call_command("seed_demo", verbosity=0)
    register_demo_numbers(emulator)
    emulator_history.teach(emulator, now=timezone.now())
    return emulator


def test_the_demos_first_reply_is_delivered_in_the_desk_and_on_the_phone(
    browser,  # noqa: F811
    live_server,
    demo,
):
    page = browser.new_page()
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "carlos")
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("form button[type=submit].primary")
    page.wait_for_url(f"{live_server.url}/inbox/")

    page.locator(".conversation-list .row-link").first.click()
    page.wait_for_url("**/conversations/*/")
    assert page.is_visible("text=Dana Kim")
    assert page.is_visible("text=Reply window open until")
    page.fill("#id_reply_body", REPLY)
    page.click("#reply-box button[type=submit]")
    page.wait_for_selector(f"text={REPLY}")

    reply = Message.objects.get(body=REPLY)
    for _ in range(40):  # the statuses come back by webhook; the page shows what is stored
        page.reload()
        state = page.locator(f"#message-{reply.pk} .delivery").inner_text()
        if state in ("Delivered", "Read"):
            break
        page.wait_for_timeout(250)
    assert state in ("Delivered", "Read"), state

    phone = browser.new_page()
    phone.goto(
        f"{demo.base_url}/_emulator/phone?phone_number_id=109876543210987&wa_id=4915112345001"
    )
    bubble = phone.locator(".m.out", has_text=REPLY)
    bubble.wait_for()
    ticks = bubble.locator(".ticks")
    assert ticks.get_attribute("data-status") in ("delivered", "read")
    assert ticks.inner_text() == "✓✓"
    # Dana's seeded messages are on her phone too, before the reply.
    assert phone.locator(".m.in", has_text="My tent arrived with a torn seam.").count() == 1
