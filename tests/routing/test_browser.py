"""In a real browser (Debian's Chromium, headless): an agent sets Available in the top bar and
receives a pushed conversation; a Supervisor's monitor shows the agent and the assignment.

The live server speaks WSGI only, so the pages run on their polling fallback here (no socket):
the monitor refreshes itself every 15 s. The routing sweep is run by the test, as beat would."""

import pytest
from django.utils import timezone

from conversations.models import Conversation
from routing import queue, sweeps
from routing.models import ChannelRouting
from tests.conversations.test_browser import _serve_plain_http, browser, log_in  # noqa: F401
from tests.factories import ContactFactory, ConversationFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_available_agent_receives_a_pushed_conversation_and_the_monitor_shows_it(
    browser,  # noqa: F811
    live_server,
    cast,
):
    ChannelRouting.objects.create(channel=cast.channel, push=True)
    conv = ConversationFactory(
        channel=cast.channel,
        contact=ContactFactory(profile_name="Dana Kim"),
        last_message_preview="Where is my order?",
    )
    queue.discover(now=timezone.now())  # beat's discover job: it waits for an agent

    supervisor = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    log_in(supervisor, live_server, cast.supervisor)
    supervisor.click("nav a[href='/monitor/']")
    supervisor.wait_for_url("**/monitor/")
    channel_card = supervisor.locator(f"section.monitor-channel[data-channel='{cast.channel.pk}']")
    assert channel_card.locator("[data-figure=unassigned]").inner_text() == "1"
    agent_row = channel_card.locator(f"tr[data-agent='{cast.contributor.pk}']")
    assert "Offline" in agent_row.inner_text()

    agent = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    log_in(agent, live_server, cast.contributor)
    agent.select_option("#availability-select", "available")
    agent.wait_for_selector("form.availability[data-availability='available']")

    sweeps.sweep(now=timezone.now())  # beat's tick: the waiting conversation goes out
    conv.refresh_from_db()
    assert conv.assignee == cast.contributor

    agent.goto(f"{live_server.url}/inbox/?assignee=me")
    assert agent.is_visible("text=Dana Kim")

    # The monitor updates itself (polling fallback, every 15 s): Available, 1 of 5, nobody waits.
    supervisor.wait_for_function(
        "(id) => { const r = document.querySelector(`tr[data-agent='${id}']`);"
        " return r && r.innerText.includes('Available') && r.innerText.includes('1 of 5'); }",
        arg=cast.contributor.pk,
        timeout=25_000,
    )
    assert channel_card.locator("[data-figure=unassigned]").inner_text() == "0"
    assert Conversation.objects.filter(assignee=cast.contributor).count() == 1
