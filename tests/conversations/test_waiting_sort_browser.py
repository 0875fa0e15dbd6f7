"""The inbox's "Longest waiting first" in Chromium: chosen in the filters, the rows follow the
customers' waiting times, at laptop and phone size, in English and German."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.conversations.test_browser import browser, log_in  # noqa: F401 - the fixture
from tests.factories import ContactFactory, ConversationFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _waiting(cast, name, minutes_waiting, activity_minutes_ago):
    now = timezone.now()
    return ConversationFactory(
        channel=cast.channel,
        contact=ContactFactory(profile_name=name),
        opened_at=now - timedelta(hours=2),
        last_activity_at=now - timedelta(minutes=activity_minutes_ago),
        waiting_since=now - timedelta(minutes=minutes_waiting) if minutes_waiting else None,
    )


@pytest.mark.parametrize(
    ("language", "label", "size"),
    [
        ("en", "Longest waiting first", {"width": 1280, "height": 800}),
        ("de", "Am längsten wartend zuerst", {"width": 390, "height": 844}),
    ],
)
def test_an_agent_sorts_the_queue_by_waiting_time(
    browser,  # noqa: F811 - the fixture
    live_server,
    cast,
    language,
    label,
    size,
):
    _waiting(cast, "Answered Anna", None, 1)
    _waiting(cast, "Brief Ben", 5, 2)
    _waiting(cast, "Patient Paula", 60, 30)
    context = browser.new_context(viewport=size, locale=language)
    context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
    page = context.new_page()
    log_in(page, live_server, cast.contributor)

    def names():
        texts = page.locator(".conversation-row .contact").all_inner_texts()
        return [text.strip("\u2068\u2069 ") for text in texts]  # the names are isolated (bdi)

    assert names()[0] == "Answered Anna"  # newest activity first
    if size["width"] < 600:
        page.click("#filter-fold summary")  # folded on a phone
    page.select_option("#id_sort", label=label)
    page.click("form button[type=submit].primary")
    page.wait_for_url("**sort=waiting**")
    assert names() == ["Patient Paula", "Brief Ben", "Answered Anna"]
    waiting = page.locator(".conversation-row .answer.waiting").first.inner_text()
    assert ("Customer waiting" if language == "en" else "wartet") in waiting
    page.screenshot(path=f"/tmp/inbox-waiting-{language}-{size['width']}.png", full_page=True)
    context.close()
