"""The saved replies in a real browser (Debian's Chromium through Playwright): an agent types
"/" and a shortcut, picks the suggestion, edits the inserted text and sends it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.models import Message
from tests.conversations.test_browser import log_in
from tests.factories import ContactFactory, ConversationFactory, MessageFactory, SavedReplyFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_agent_types_a_slash_shortcut_and_sends_the_filled_in_reply(
    browser, live_server, cast, no_dispatch
):
    now = timezone.now()
    conversation = ConversationFactory(
        channel=cast.channel,
        contact=ContactFactory(profile_name="Dana Kim"),
        opened_at=now - timedelta(minutes=5),
        last_customer_message_at=now - timedelta(minutes=5),
    )
    MessageFactory(conversation=conversation, body="Where is my tent?")
    SavedReplyFactory(
        shortcut="tracking",
        title="Tracking link",
        body="Hi {{contact.first_name|there}}, {{agent.first_name}} from {{channel.name}} here.",
    )
    SavedReplyFactory(shortcut="thanks", title="Thank you", body="Thanks!")
    cast.contributor.first_name = "Carla"
    cast.contributor.save()

    page = browser.new_page()
    log_in(page, live_server, cast.contributor)
    page.goto(f"{live_server.url}/conversations/{conversation.pk}/")
    box = page.locator("#id_reply_body")
    box.click()
    box.type("/tra")
    option = page.locator("#sr-suggestions [role=option]").first
    option.wait_for()
    assert option.get_attribute("data-shortcut") == "tracking"
    assert "Hi Dana, Carla from Acme Support here." in option.inner_text()
    page.keyboard.press("Enter")
    page.wait_for_function(
        "document.querySelector('#id_reply_body').value.startsWith('Hi Dana,')"
    )
    assert box.input_value() == "Hi Dana, Carla from Acme Support here."
    assert page.locator("#sr-suggestions").is_hidden()

    box.press("End")
    box.type(" Your tent ships today.")
    page.click("#reply-box button[type=submit].primary")
    page.wait_for_selector("text=Reply queued.")
    sent = "Hi Dana, Carla from Acme Support here. Your tent ships today."
    assert page.locator(".msg.dir-out .msg-body").last.inner_text() == sent
    reply = Message.objects.get(direction=Message.Direction.OUTBOUND)
    assert reply.body == sent
    assert no_dispatch == [reply.pk]


def test_the_picker_works_with_arrows_enter_escape_and_a_click(browser, live_server, cast):
    conversation = ConversationFactory(
        channel=cast.channel, contact=ContactFactory(profile_name="")
    )
    SavedReplyFactory(shortcut="hello", title="Hello", body="Hello {{contact.first_name|there}}!")
    SavedReplyFactory(shortcut="bye", title="Goodbye", body="Bye!")
    page = browser.new_page()
    log_in(page, live_server, cast.contributor)
    page.goto(f"{live_server.url}/conversations/{conversation.pk}/")
    options = page.locator("#sr-suggestions [role=option]")
    page.fill("#id_reply_body", "Note: ")
    page.click(".sr-picker-button")
    options.nth(1).wait_for()
    page.keyboard.press("Escape")
    assert page.locator("#sr-picker").is_hidden()
    assert page.locator("#sr-suggestions").is_hidden()

    # Empty query: both, by shortcut (bye, hello); Down moves to the second, Enter inserts it.
    page.click(".sr-picker-button")
    options.nth(1).wait_for()
    assert options.all_inner_texts()[0].startswith("/bye")
    page.keyboard.press("ArrowDown")
    assert options.nth(1).get_attribute("aria-selected") == "true"
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelector('#id_reply_body').value.includes('Hello')")
    assert page.input_value("#id_reply_body") == "Note: Hello there!"

    # Typing filters; a click inserts at the caret.
    page.click(".sr-picker-button")
    page.fill("#sr-picker-q", "by")
    page.wait_for_function(
        "document.querySelectorAll('#sr-suggestions [role=option]').length === 1"
    )
    options.first.click()
    page.wait_for_function("document.querySelector('#id_reply_body').value.endsWith('Bye!')")
    assert page.input_value("#id_reply_body") == "Note: Hello there!Bye!"
