"""The agent pages at phone size (390 x 844) and at laptop size, in a real Chromium.

No page scrolls sideways at 390 px, whatever the data (long names, long links, long tag and
channel names, German words); the inbox's filters fold away on a phone so that the first
conversation is on the first screen; the reports' chart labels stay inside their drawing.
"""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from channels_app.access import Role
from conversations.models import Conversation
from tests.conversations.test_browser import PASSWORD, browser  # noqa: F401 - the fixture
from tests.factories import (
    ContactFactory,
    ConversationFactory,
    GrantFactory,
    MessageFactory,
    NoteFactory,
    TagFactory,
    TemplateFactory,
    TopicFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 900}
LONG_LINK = "https://example.com/tracking/" + "abcdefghijklmnopqrstuvwxyz0123456789" * 3
OVERFLOW = "document.documentElement.scrollWidth - window.innerWidth"


@pytest.fixture
def long_data(cast):
    """Conversations whose every text is as long as a real one can get."""
    cast.channel.display_name = "Acme Outdoor Supply Kundenservice Deutschland (WhatsApp Business)"
    cast.channel.save()
    now = timezone.now()
    tags = [TagFactory(name=f"Garantieverlängerung-{i}-Rückfrage") for i in range(4)]
    topic = TopicFactory(name="Lieferverzögerungen und Rücksendungen aus Österreich")
    conversations = []
    for i in range(6):
        at = now - timedelta(minutes=5 + i)
        conv = ConversationFactory(
            channel=cast.channel,
            contact=ContactFactory(
                profile_name=f"Maximilian-Alexander Schwarzenberger-Hohenlohe-{i}",
                wa_id=f"49151999888{i:02d}",
            ),
            opened_at=at,
            last_activity_at=at,
            last_customer_message_at=at,
            last_message_preview=f"Meine Bestellung ist noch nicht da: {LONG_LINK}",
            assignee=cast.contributor if i % 2 else None,
        )
        conv.tags.add(*tags)
        conv.topics.add(topic)
        MessageFactory(conversation=conv, body=f"Meine Bestellung ist noch nicht da: {LONG_LINK}")
        MessageFactory(
            conversation=conv,
            direction="out",
            author=cast.contributor,
            body="Entschuldigung" * 20,
        )
        NoteFactory(conversation=conv, author=cast.supervisor, body="Rückruf" * 30)
        conversations.append(conv)
    closed = conversations[-1]
    closed.last_customer_message_at = now - timedelta(days=2)
    closed.save()
    TemplateFactory(channel=cast.channel, name="bestellstatus_aktualisierung_" * 3)
    ConversationFactory(
        channel=cast.channel,
        status=Conversation.Status.PENDING,
        last_message_preview="Wartet auf Rückmeldung",
        contact=ContactFactory(profile_name="Pending Person"),
    )
    return conversations


def _page(browser, live_server, user, viewport, language="en"):  # noqa: F811
    context = browser.new_context(viewport=viewport, locale=language)
    page = context.new_page()
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("form button[type=submit].primary")
    page.wait_for_url(f"{live_server.url}/inbox/")
    # live.js re-renders the list once right after the load: measure after that.
    page.wait_for_load_state("networkidle")
    return page


def _assert_no_sideways_scroll(page, what):
    overflow = page.evaluate(OVERFLOW)
    assert overflow <= 0, f"{what} is {overflow} px wider than the 390 px screen"


@pytest.mark.parametrize("language", ["en", "de"])
def test_no_agent_page_scrolls_sideways_on_a_phone(
    browser,  # noqa: F811
    live_server,
    cast,
    long_data,
    language,
):
    GrantFactory(channel=cast.other_channel, user=cast.supervisor, role=Role.SUPERVISOR)
    open_conv, closed_conv = long_data[0], long_data[-1]
    page = _page(browser, live_server, cast.supervisor, PHONE, language)
    url = live_server.url
    pages = {
        "inbox": "/inbox/",
        "pending queue": "/inbox/?status=pending",
        "search with matches in another queue": "/inbox/?status=resolved&q=Bestellung",
        "filtered inbox": f"/inbox/?channel={cast.channel.pk}&assignee=me",
        "invalid filter": "/inbox/?tag=999999&channel=abc",
        "conversation": reverse("conversations:detail", args=[open_conv.pk]),
        "closed window": reverse("conversations:detail", args=[closed_conv.pk]),
        "whole history": reverse("conversations:detail", args=[open_conv.pk]) + "?history=all",
        "reports": "/reports/",
        "reports, custom dates": "/reports/?range=custom&from=2026-01-01&to=2026-03-31",
        "reports, bad dates": "/reports/?range=custom&from=2026-03-31&to=2026-01-01",
        "saved replies": reverse("replies:manage"),
        "new saved reply": reverse("replies:add"),
    }
    for what, path in pages.items():
        page.goto(url + path)
        page.wait_for_load_state("networkidle")
        _assert_no_sideways_scroll(page, what)

    # Saved states: after a note, after a reply, with their confirmations shown.
    page.goto(url + pages["conversation"])
    page.fill("#id_note_body", "Rückruf vereinbart " * 10)
    page.click("#note-form button[type=submit]")
    page.wait_for_selector(".flash li")
    _assert_no_sideways_scroll(page, "conversation after a note")

    viewer = _page(browser, live_server, cast.viewer, PHONE, language)
    viewer.goto(url + "/reports/")
    _assert_no_sideways_scroll(viewer, "reports refused to a Viewer")

    anonymous = browser.new_context(viewport=PHONE, locale=language).new_page()
    anonymous.goto(url + "/login/")
    _assert_no_sideways_scroll(anonymous, "login")
    anonymous.fill("#id_username", "nobody")
    anonymous.fill("#id_password", "wrong")
    anonymous.click("form button[type=submit].primary")
    anonymous.wait_for_selector(".errors, .errorlist")
    _assert_no_sideways_scroll(anonymous, "login with an error")


def test_on_a_phone_the_filters_fold_and_the_first_conversation_is_on_the_first_screen(
    browser,  # noqa: F811
    live_server,
    cast,
    long_data,
):
    page = _page(browser, live_server, cast.supervisor, PHONE)
    assert page.locator("#id_q").is_visible()  # the search stays
    assert not page.locator("#id_channel").is_visible()
    assert page.locator("#filter-fold summary").is_visible()
    # One script, so that a live refresh cannot swap the row between finding and measuring it.
    first = page.evaluate(
        "() => { const r = document.querySelector('.conversation-row').getBoundingClientRect();"
        " return {top: r.top, bottom: r.bottom}; }"
    )
    assert first["top"] >= 0
    assert first["bottom"] <= PHONE["height"], first

    page.click("#filter-fold summary")
    assert page.locator("#id_channel").is_visible()
    page.select_option("#id_assignee", "me")
    page.click("#filter-fold button[type=submit]")
    page.wait_for_url("**assignee=me*")
    page.wait_for_load_state("networkidle")
    # Folded again, saying that a filter is set.
    assert not page.locator("#id_assignee").is_visible()
    assert page.inner_text("#filter-fold summary") == "Filters (1 active)"


def test_on_a_laptop_the_filters_are_open_beside_the_list(
    browser,  # noqa: F811
    live_server,
    cast,
    long_data,
):
    page = _page(browser, live_server, cast.supervisor, LAPTOP)
    for field in ("#id_q", "#id_channel", "#id_assignee", "#id_tag", "#id_topic"):
        assert page.locator(field).is_visible(), field
    assert not page.locator("#filter-fold summary").is_visible()
    assert page.evaluate(OVERFLOW) <= 0


@pytest.mark.parametrize("viewport", [PHONE, LAPTOP], ids=["phone", "laptop"])
@pytest.mark.parametrize("language", ["en", "de"])
def test_chart_labels_stay_inside_the_chart(
    browser,  # noqa: F811
    live_server,
    cast,
    long_data,
    viewport,
    language,
):
    page = _page(browser, live_server, cast.supervisor, viewport, language)
    page.goto(f"{live_server.url}/reports/?range=30d")
    boxes = page.evaluate(
        """() => [...document.querySelectorAll('svg.chart text')].map(t => {
             const b = t.getBBox(), w = t.ownerSVGElement.viewBox.baseVal.width;
             return {text: t.textContent, left: b.x, right: b.x + b.width, width: w};
           })"""
    )
    assert len(boxes) > 20
    for box in boxes:
        assert box["left"] >= 0, box
        assert box["right"] <= box["width"], box
