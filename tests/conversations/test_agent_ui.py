"""The agent pages' rough edges (issue 13): the Reports link, the period select, the charts'
labels, one date format per language, plurals, "Unassigned", search counts per queue, the last
minute of the reply window, the favicon."""

import re
from datetime import date, timedelta

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone, translation

from channels_app import access
from channels_app.access import Role
from conversations import queries, services
from reports import charts, figures
from tests.factories import (
    ChannelFactory,
    ConversationFactory,
    EventFactory,
    GrantFactory,
    MessageFactory,
    NoteFactory,
    TemplateFactory,
    UserFactory,
)
from tests.reports import test_reports as known

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


def _days(first: date, n: int, **values) -> list[figures.Day]:
    return [
        figures.Day(
            day=first + timedelta(days=i),
            opened=values.get("opened", 0),
            resolved=0,
            messages_in=values.get("messages_in", 0),
            messages_out=0,
            first_response_median=figures.Duration(values.get("frt")),
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


# --- plurals -----------------------------------------------------------------------------------


def test_report_figures_say_one_in_the_singular_and_more_in_the_plural(client, cast):
    agent = UserFactory(first_name="Alice")
    one = known.conversation(
        cast.channel, known.at("03-10 08:00:00"), first_response_at=known.at("03-10 08:01:00")
    )
    known.msg(one, known.at("03-10 08:00:00"))
    known.msg(one, known.at("03-10 08:01:00"), out=True, author=agent)
    known.resolve(one, known.at("03-10 09:00:00"), by=agent)
    client.force_login(cast.supervisor)
    dates = {"range": "custom", "from": "2025-03-10", "to": "2025-03-12"}
    html = client.get(REPORTS, dates).content.decode()
    assert "· 1 conversation answered" in html
    assert "1 by an agent · 0 auto-resolved" in html

    two = known.conversation(
        cast.channel, known.at("03-11 08:00:00"), first_response_at=known.at("03-11 08:02:00")
    )
    known.resolve(two, known.at("03-11 09:00:00"), by=agent)
    html = client.get(REPORTS, dates).content.decode()
    assert "· 2 conversations answered" in html
    assert "2 by agents · 0 auto-resolved" in html
    client.cookies["django_language"] = "de"
    html = client.get(REPORTS, dates).content.decode()
    assert "· 2 Konversationen beantwortet" in html


@pytest.mark.parametrize(
    ("placeholders", "message"),
    [
        (1, "This template needs 1 parameter, filled in."),
        (2, "This template needs 2 parameters, each filled in."),
    ],
)
def test_template_parameter_error_is_singular_or_plural(cast, placeholders, message):
    body = " ".join(f"{{{{{i}}}}}" for i in range(1, placeholders + 1))
    template = TemplateFactory(
        channel=cast.channel, components=[{"type": "BODY", "text": f"Hello {body}"}]
    )
    conversation = ConversationFactory(channel=cast.channel)
    with pytest.raises(services.DomainError) as raised:
        services.send_template(conversation, author=cast.contributor, template=template, params=[])
    assert raised.value.message == message


# --- "Unassigned" in the assign picker -------------------------------------------------------


def _picked(html: str) -> str:
    select = re.search(r'<select name="assignee" id="id_assignee_pick">.*?</select>', html, re.S)
    return re.search(r"<option[^>]* selected>([^<]*)</option>", select.group(0)).group(1)


def test_the_assign_picker_of_an_unassigned_conversation_shows_unassigned(client, cast):
    conversation = ConversationFactory(channel=cast.channel, assignee=None)
    client.force_login(cast.contributor)
    assert _picked(client.get(detail_url(conversation)).content.decode()) == "Unassigned"

    conversation.assignee = cast.supervisor
    conversation.save()
    html = client.get(detail_url(conversation)).content.decode()
    assert _picked(html) == (cast.supervisor.get_full_name() or "sam_supervisor")
    assert "Nobody (unassign)" in html


# --- the last minute of the reply window -------------------------------------------------------


@pytest.mark.parametrize(
    ("written_ago", "state"),
    [
        (timedelta(hours=23, minutes=49), "open"),  # 11 minutes left, the margin is 10
        (timedelta(hours=23, minutes=55), "closing"),  # 5 minutes left: inside the margin
        (timedelta(hours=24, minutes=1), "closed"),
    ],
)
def test_the_last_minutes_of_the_window_say_closing_not_that_the_customer_is_silent(
    client, cast, settings, written_ago, state
):
    settings.WHATSAPP_WINDOW_SAFETY_MARGIN = timedelta(minutes=10)
    conversation = ConversationFactory(
        channel=cast.channel, last_customer_message_at=timezone.now() - written_ago
    )
    client.force_login(cast.contributor)
    html = client.get(detail_url(conversation)).content.decode()
    closing = "The 24-hour reply window is closing (at " in html
    silent = "the customer has not written in the last 24 hours" in html
    assert ("Reply window open until" in html, closing, silent) == (
        state == "open",
        state == "closing",
        state == "closed",
    )
    assert ('id="reply-box"' in html) is (state == "open")


# --- one date format per language --------------------------------------------------------------


DATE_SHAPES = {
    "en": re.compile(
        r"\b\d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4}, \d\d:\d\d\b"
    ),
    "de": re.compile(
        r"\b\d{1,2}\. (Jan\.|Feb\.|März|April|Mai|Juni|Juli|Aug\.|Sept\.|Okt\.|Nov\.|Dez\.)"
        r" \d{4}, \d\d:\d\d\b"
    ),
}


# A slash-separated date, but not a piece of a URL path (a path's numbers follow a "/" or a word).
NUMERIC_DATE = re.compile(
    r"(?<![\w/])(?:\d{1,2}/\d{1,2}/(?:\d{4}|\d{2})|\d{4}/\d{1,2}/\d{1,2})(?![\w/])"
)


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_conversation_page_writes_every_date_one_way(client, cast, language):
    at = timezone.now() - timedelta(hours=2)
    conversation = ConversationFactory(
        channel=cast.channel, last_customer_message_at=at, opened_at=at
    )
    MessageFactory(conversation=conversation, created_at=at)
    NoteFactory(conversation=conversation, author=cast.supervisor, created_at=at)
    EventFactory(conversation=conversation, created_at=at)
    ConversationFactory(
        channel=cast.channel,
        contact=conversation.contact,
        status="resolved",
        opened_at=at - timedelta(days=40),
    )
    client.force_login(cast.contributor)
    client.cookies["django_language"] = language
    html = client.get(detail_url(conversation)).content.decode()
    times = re.findall(r"<time[^>]*>([^<]*)</time>", html)
    assert len(times) >= 3  # message, note, event
    for text in times:
        assert DATE_SHAPES[language].fullmatch(text), text
    window = re.search(r'<p class="window open">([^<]*)</p>', html).group(1)
    assert DATE_SHAPES[language].search(window), window
    earlier = re.search(r'<ul class="history">.*?</ul>', html, re.S).group(0)
    day = r"\d{1,2} \w{3} \d{4}" if language == "en" else r"\d{1,2}\. \S+ \d{4}"
    assert re.search(rf"· {day} ·", earlier), earlier
    for foreign in ("p.m.", "a.m."):
        assert foreign not in html
    # No numeric date in any order (12/06/2026, 6/12/26, 2026/12/06). Not a bare "/20": that is
    # also the path of a conversation whose id is 20 (/conversations/20/), a flaky failure.
    assert not NUMERIC_DATE.search(html), NUMERIC_DATE.search(html)


def test_the_inbox_says_how_long_ago_within_a_day_and_the_date_after(client, cast):
    now = timezone.now()
    ConversationFactory(channel=cast.channel, last_activity_at=now - timedelta(minutes=5))
    ConversationFactory(channel=cast.channel, last_activity_at=now - timedelta(days=1, hours=6))
    client.force_login(cast.viewer)
    for language, ago in (("en", r"5\sminutes ago"), ("de", r"vor 5\sMinuten")):
        client.cookies["django_language"] = language
        html = client.get(INBOX).content.decode()
        texts = re.findall(r'<time class="when"[^>]*>([^<]*)</time>', html)
        assert re.fullmatch(ago, texts[0]), texts[0]
        assert DATE_SHAPES[language].fullmatch(texts[1]), texts[1]
        assert "Tage," not in html


def test_the_reports_page_writes_its_days_in_the_same_format(client, cast):
    client.force_login(cast.supervisor)
    client.cookies["django_language"] = "de"
    dates = {"range": "custom", "from": "2025-03-10", "to": "2025-03-12"}
    html = client.get(REPORTS, dates).content.decode()
    assert "10. März 2025 – 12. März 2025" in html
    assert '<time datetime="2025-03-11">11. März 2025</time>' in html


# --- favicon -----------------------------------------------------------------------------------


def test_every_agent_page_links_the_favicon(client, cast):
    icon = '<link rel="icon" href="/static/desk/favicon.svg" type="image/svg+xml">'
    assert icon in client.get(reverse("login")).content.decode()
    client.force_login(cast.supervisor)
    for url in (INBOX, REPORTS):
        assert icon in client.get(url).content.decode()
    svg = (settings.BASE_DIR / "static" / "desk" / "favicon.svg").read_text()
    assert svg.startswith("<svg") and 'viewBox="0 0 64 64"' in svg
