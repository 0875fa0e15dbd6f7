"""The agent pages' rough edges (issue 13): the Reports link, the period select, the charts'
labels, one date format per language, plurals, "Unassigned", search counts per queue, the last
minute of the reply window, the favicon."""

import re
from datetime import date, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import translation

from channels_app import access
from channels_app.access import Role
from conversations import charts, queries, reports
from tests.factories import (
    ChannelFactory,
    ConversationFactory,
    GrantFactory,
    MessageFactory,
)

INBOX = reverse("conversations:inbox")
REPORTS = reverse("reports:index")
REPORTS_LINK = f'<a href="{REPORTS}"'


def detail_url(conversation):
    return reverse("conversations:detail", args=[conversation.pk])


# --- the Reports link in the top bar -------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "linked"),
    [
        ("admin", True),
        ("supervisor", True),
        ("contributor", False),
        ("viewer", False),
        ("team_contributor", False),
        ("outsider", False),
    ],
)
def test_top_bar_links_the_reports_only_for_who_may_see_one(client, cast, persona, linked):
    conversation = ConversationFactory(channel=cast.channel)
    client.force_login(getattr(cast, persona))
    pages = [INBOX]
    if persona != "outsider":
        pages.append(detail_url(conversation))
    for url in pages:
        html = client.get(url).content.decode()
        assert (REPORTS_LINK in html) is linked, url


def test_a_team_supervisor_and_an_all_users_supervisor_get_the_link(client, cast):
    team_channel = ChannelFactory()
    GrantFactory(channel=team_channel, user=None, team=cast.team, role=Role.SUPERVISOR)
    client.force_login(cast.team_contributor)
    assert REPORTS_LINK in client.get(INBOX).content.decode()

    ChannelFactory(all_users_enabled=True, all_users_role=Role.SUPERVISOR)
    client.force_login(cast.viewer)
    assert REPORTS_LINK in client.get(INBOX).content.decode()


def test_a_supervisor_of_an_inactive_channel_only_still_gets_the_link(client, cast):
    # The reports cover inactive channels too, though the inbox's picker hides them.
    dormant = ChannelFactory(is_active=False)
    GrantFactory(channel=dormant, user=cast.contributor, role=Role.SUPERVISOR)
    client.force_login(cast.contributor)
    assert REPORTS_LINK in client.get(INBOX).content.decode()
    assert client.get(REPORTS).status_code == 200


def test_the_reports_page_marks_its_link_as_the_current_page(client, cast):
    client.force_login(cast.supervisor)
    html = client.get(REPORTS).content.decode()
    assert f'<a href="{REPORTS}" aria-current="page">Reports</a>' in html
    html = client.get(INBOX).content.decode()
    assert f'<a href="{INBOX}" aria-current="page">Inbox</a>' in html


@pytest.mark.parametrize(("persona", "linked"), [("supervisor", True), ("contributor", False)])
def test_the_inbox_channel_query_also_answers_the_link(
    cast, django_assert_num_queries, persona, linked
):
    user = get_user_model().objects.get(pk=getattr(cast, persona).pk)
    access.is_admin(user)  # the page has asked this already
    with django_assert_num_queries(1):
        queries.inbox_channels(user)
        assert access.sees_reports(user) is linked


def test_the_login_page_has_no_reports_link(client):
    assert REPORTS_LINK not in client.get(reverse("login")).content.decode()


# --- the period select -------------------------------------------------------------------------


def _selected_range(html: str) -> str:
    select = re.search(r'<select name="range".*?</select>', html, re.S).group(0)
    return re.search(r'<option value="([^"]*)" selected>', select).group(1)


def test_period_select_shows_the_last_7_days_on_first_load(client, cast):
    client.force_login(cast.supervisor)
    response = client.get(REPORTS)
    report = response.context["report"]
    assert (report.period.last - report.period.first).days == 6
    assert _selected_range(response.content.decode()) == "7d"


@pytest.mark.parametrize("chosen", ["today", "7d", "30d"])
def test_period_select_shows_the_chosen_period(client, cast, chosen):
    client.force_login(cast.supervisor)
    assert _selected_range(client.get(REPORTS, {"range": chosen}).content.decode()) == chosen


# --- the charts ------------------------------------------------------------------------------


def _days(first: date, n: int, **values) -> list[reports.Day]:
    return [
        reports.Day(
            day=first + timedelta(days=i),
            opened=values.get("opened", 0),
            resolved=0,
            messages_in=values.get("messages_in", 0),
            messages_out=0,
            first_response_median=reports.Duration(values.get("frt")),
        )
        for i in range(n)
    ]


def _texts(svg: str) -> list[str]:
    return re.findall(r'<text class="axis"[^>]*>([^<]*)</text>', svg)


def test_chart_day_labels_and_numbers_are_in_the_pages_language():
    days = _days(date(2026, 11, 29), 7, opened=1250)
    with translation.override("de"):
        conversations, _messages, _frt = charts.daily_charts(days)
    svg = str(conversations["svg"])
    assert "29. Nov." in _texts(svg)
    assert "5. Dez." in _texts(svg)
    assert "1.250" in svg  # German digit grouping on the axis
    assert "Dec" not in svg
    assert "Geöffnet" in svg
    assert "vom 29. Nov. 2026 bis 5. Dez. 2026" in svg
    with translation.override("en"):
        svg = str(charts.daily_charts(days)[0]["svg"])
    assert {"29 Nov", "5 Dec"} <= set(_texts(svg))
    assert "1,250" in svg


def test_count_axes_step_by_whole_numbers():
    svg = str(charts.daily_charts(_days(date(2026, 3, 1), 3, opened=5))[0]["svg"])
    values = [t for t in _texts(svg) if t.isdigit()]
    assert values == ["0", "2", "4", "6"]
    assert not any("." in t for t in _texts(svg))


def test_durations_axis_is_in_the_pages_language():
    days = _days(date(2026, 3, 1), 3, frt=600)
    with translation.override("de"):
        svg = str(charts.daily_charts(days)[2]["svg"])
    assert "10 Min." in _texts(svg)


@pytest.mark.parametrize("n", [1, 2, 7, 30, 366])
def test_chart_margins_leave_room_for_every_label(n):
    # The widest labels a chart can get: six-digit counts and German day names.
    days = _days(date(2026, 9, 1), n, opened=987654)
    with translation.override("de"):
        svg = str(charts.daily_charts(days)[0]["svg"])
    for x, anchor, text in re.findall(
        r'<text class="axis" x="([\d.]+)" y="[\d.]+" text-anchor="(\w+)">([^<]*)</text>', svg
    ):
        width = charts._text_width(text)
        left = float(x) - {"end": width, "middle": width / 2, "start": 0}[anchor]
        assert left >= 0, text
        assert left + width <= charts.WIDTH, text


# --- search counts per queue -------------------------------------------------------------------


def test_a_search_names_the_queues_its_matches_are_in(client, cast):
    pending = ConversationFactory(channel=cast.channel, status="pending")
    MessageFactory(conversation=pending, body="Where is my tent?")
    for _ in range(2):
        resolved = ConversationFactory(channel=cast.channel, status="resolved")
        MessageFactory(conversation=resolved, body="The tent is great")
    ConversationFactory(channel=cast.channel)  # in New, no match
    client.force_login(cast.viewer)
    html = client.get(INBOX, {"q": "tent"}).content.decode()
    summary = re.search(r'<p class="search-summary".*?</p>', html, re.S).group(0)
    assert "3 conversations match “tent”" in summary
    assert "1 in Pending</a>" in summary
    assert "2 in Resolved</a>" in summary
    assert "in New" not in summary
    assert "Nothing in this queue matches; the matches are in the queues named above." in html

    with translation.override("de"):
        client.cookies["django_language"] = "de"
        html = client.get(INBOX, {"q": "tent", "status": "pending"}).content.decode()
    assert "3 Konversationen passen zu „tent“" in html
    assert "1 in Ausstehend</a>" in html


def test_a_search_with_one_match_says_so_in_the_singular(client, cast):
    MessageFactory(conversation=ConversationFactory(channel=cast.channel), body="tent")
    client.force_login(cast.viewer)
    html = client.get(INBOX, {"q": "tent"}).content.decode()
    assert "1 conversation matches “tent”" in html
    assert "No conversations here." not in html


def test_without_a_search_there_is_no_match_summary(client, cast):
    client.force_login(cast.viewer)
    html = client.get(INBOX).content.decode()
    assert 'class="search-summary"' not in html
    assert "No conversations here." in html
