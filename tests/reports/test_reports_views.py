"""The reports page and its CSV exports: access, filters, figures on the page, query count."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.urls import reverse

from channels_app.access import Role
from reports import tallies
from reports.forms import ReportFilterForm
from tests.factories import (
    ChannelFactory,
    GrantFactory,
    ProfileFactory,
    TagFactory,
    TopicFactory,
    UserFactory,
)
from tests.reports import test_reports as known
from tests.reports.test_reports import at, conversation, msg

URL = reverse("reports:index")
# The known history of test_reports.py (channel A and B, Berlin days 10-12 March 2025).
history = known.history
DATES = {"range": "custom", "from": "2025-03-10", "to": "2025-03-12"}


def login(client, user, tz="Europe/Berlin"):
    ProfileFactory(user=user, time_zone=tz)
    client.force_login(user)
    return client


def rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


# --- access ----------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["contributor", "viewer", "team_contributor"])
@pytest.mark.parametrize("extra", [{}, {"format": "csv", "table": "agents"}])
def test_below_supervisor_cannot_open_the_channels_report_or_export_with_403(
    client, cast, persona, extra
):
    login(client, getattr(cast, persona))
    response = client.get(URL, {"channel": cast.channel.pk, **DATES, **extra})
    assert response.status_code == 403
    assert b"Only Supervisors of this channel can see its reports." in response.content


def test_user_without_any_supervisor_channel_gets_403_saying_why(client, cast):
    login(client, cast.contributor)
    response = client.get(URL)
    assert response.status_code == 403
    assert b"you are not a Supervisor of any channel" in response.content


@pytest.mark.parametrize("extra", [{}, {"format": "csv", "table": "summary"}])
def test_outsider_gets_404_for_the_channel(client, cast, extra):
    login(client, cast.outsider)
    response = client.get(URL, {"channel": cast.channel.pk, **extra})
    assert response.status_code == 404


@pytest.mark.parametrize("value", ["999999", "abc", "1.5"])
def test_unknown_or_malformed_channel_is_404(client, cast, value):
    login(client, cast.supervisor)
    assert client.get(URL, {"channel": value}).status_code == 404


def test_supervisor_of_a_gets_404_for_channel_b_even_as_csv(client, history):
    cast = history.cast
    login(client, cast.supervisor)
    assert client.get(URL, {"channel": cast.other_channel.pk}).status_code == 404
    response = client.get(
        URL, {"channel": cast.other_channel.pk, "format": "csv", "table": "agents"}
    )
    assert response.status_code == 404


def test_all_channels_of_a_supervisor_never_include_channel_b(client, history):
    login(client, history.cast.supervisor)
    response = client.get(URL, DATES)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Bart Other" not in page
    assert "Other Brand" not in page  # not even in the channel picker
    assert response.context["report"].summary.opened == 6
    agents = rows(client.get(URL, {**DATES, "format": "csv", "table": "agents"}))
    assert [r[0] for r in agents[1:]] == ["Alice Agent", "bob"]


def test_a_team_supervisor_sees_the_report(client, history):
    cast = history.cast
    lead = UserFactory(username="tina_team_lead")
    team = cast.team
    team.members.add(lead)
    team.channel_grants.update(role=Role.SUPERVISOR)
    login(client, lead)
    response = client.get(URL, {"channel": cast.channel.pk, **DATES})
    assert response.status_code == 200
    assert response.context["report"].summary.opened == 6


def test_admin_sees_every_channel_in_all_channels(client, history):
    login(client, history.cast.admin)
    response = client.get(URL, DATES)
    assert response.status_code == 200
    assert response.context["report"].summary.opened == 7
    assert "Other Brand" in response.content.decode()


def test_anonymous_is_sent_to_login(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_post_is_not_allowed(client, cast):
    login(client, cast.supervisor)
    assert client.post(URL).status_code == 405


# --- the page ------------------------------------------------------------------------------


def test_page_shows_the_figures_charts_and_tables(client, history):
    login(client, history.cast.supervisor)
    response = client.get(URL, {"channel": history.a.pk, **DATES})
    assert response.status_code == 200
    page = response.content.decode()
    report = response.context["report"]
    assert (report.summary.opened, report.summary.reopened) == (6, 1)
    assert report.period.first == date(2025, 3, 10)
    assert "days in Europe/Berlin" in page
    assert "2 by agents · 1 auto-resolved" in page
    assert "median · 90th percentile 12 min · 5 conversations answered" in page  # p90 720 s
    assert page.count('<svg class="chart"') == 3
    assert 'role="img"' in page
    assert '<title id="chart-conversations-title">' in page
    assert '<desc id="chart-messages-desc">7 messages in and 6 out' in page
    # The table fallback of the charts: one row per Berlin day.
    assert '<time datetime="2025-03-11">' in page
    assert "billing" in page
    assert "Orders" in page
    assert "reports.css" in page


def test_user_time_zone_moves_the_day_boundaries(client, history):
    # In UTC, c6 (23:00:00 UTC on the 9th) falls before 10-12 March, c3 (23:30 UTC on the
    # 10th) stays on the 10th, and c8 (23:00:00 UTC on the 12th) joins the 12th.
    login(client, history.cast.supervisor, tz="UTC")
    report = client.get(URL, {"channel": history.a.pk, **DATES}).context["report"]
    assert [d.opened for d in report.daily] == [3, 1, 2]


def test_tag_names_are_escaped_on_the_page_and_defused_in_csv(client, history):
    c = conversation(history.a, at("03-11 09:00:00"))
    c.tags.add(TagFactory(name="<b>x</b>"))
    c.topics.add(TopicFactory(name="=HYPERLINK(1)"))
    tallies.rebuild()  # the factories bypass the services that keep the pre-aggregates
    login(client, history.cast.supervisor)
    page = client.get(URL, DATES).content.decode()
    assert "<b>x</b>" not in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page
    topics = rows(client.get(URL, {**DATES, "format": "csv", "table": "topics"}))
    assert ["'=HYPERLINK(1)", "1", "0", ""] in topics


FORMULAS = [
    "=HYPERLINK(1)", "+1+1", "-1+1", "@SUM(A1)", "\t=1", "\r=1",
    "＝HYPERLINK(1)", "＋1+1", "－1+1", "＠SUM(A1)",  # full-width
    "﹦1+1", "﹢1", "﹣1", "﹫SUM(A1)",  # small forms
    " =1+1", "\u3000＝1+1",  # behind a space or a full-width space
]  # fmt: skip


def test_every_formula_character_is_defused_in_csv(client, history):
    c = conversation(history.a, at("03-11 09:00:00"))
    for name in [*FORMULAS, "Returns"]:
        c.topics.add(TopicFactory(name=name))
    tallies.rebuild()  # the factories bypass the services that keep the pre-aggregates
    login(client, history.cast.supervisor)
    names = [row[0] for row in rows(client.get(URL, {**DATES, "format": "csv", "table": "topics"}))]
    assert "Returns" in names
    assert [f for f in FORMULAS if "'" + f not in names] == []
    assert [f for f in FORMULAS if f in names] == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"range": "custom", "from": "2025-03-12", "to": "2025-03-10"}, "must not be after"),
        ({"range": "custom", "from": "2024-01-01", "to": "2025-03-10"}, "at most 366 days"),
        ({"range": "custom", "from": "2025-03-10"}, "need both a first and a last day"),
        ({"range": "custom", "from": "yesterday", "to": "2025-03-10"}, "Enter a valid date"),
        ({"range": "custom", "from": "0001-01-01", "to": "0001-01-02"}, "must lie between"),
        ({"range": "forever"}, "Select a valid choice"),
    ],
)
def test_bad_filters_are_form_errors_not_500(client, cast, params, message):
    login(client, cast.supervisor)
    response = client.get(URL, params)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert response.context["report"] is None
    csv_response = client.get(URL, {**params, "format": "csv", "table": "daily"})
    assert csv_response.status_code == 400
    assert message in csv_response.content.decode()


def test_a_year_of_366_days_is_allowed(client, cast):
    login(client, cast.supervisor)
    response = client.get(URL, {"range": "custom", "from": "2024-01-01", "to": "2024-12-31"})
    assert response.status_code == 200
    assert len(response.context["report"].daily) == 366


@pytest.mark.parametrize(("preset", "days"), [("today", 1), ("7d", 7), ("30d", 30), ("", 7)])
def test_presets_end_today_in_the_users_zone(preset, days):
    tz = ZoneInfo("Pacific/Auckland")
    today = date(2025, 3, 12)
    form = ReportFilterForm({"range": preset}, channels=[], today=today, tz=tz)
    assert form.is_valid(), form.errors
    period = form.cleaned_data["period"]
    assert (period.first, period.last, period.tz) == (today - timedelta(days=days - 1), today, tz)


def test_page_renders_in_a_constant_number_of_queries(client, history, django_assert_num_queries):
    cast = history.cast
    login(client, cast.supervisor)
    params = {"channel": cast.channel.pk, **DATES}
    client.get(URL, params)  # the first request stores the time zone in the session

    # Session, user, the user's or groups' permission (is the user an admin?), channel_for,
    # the channel list, the report's savepoint and its release (the test runs in a
    # transaction), and the report: 8 statements (the roll-up's watermark, its per-day and
    # per-breakdown rows, the names of the agents, tags and topics, the messages, the queues;
    # the period lies before the watermark, so nothing is computed live), on PostgreSQL plus
    # the SET LOCAL of its settings. The service levels (reports/service_levels.py) add a
    # fixed 14: clocks per target, channel, agent (with the agents' names), tag and day, the
    # channel and tag names, the business-hours times from the roll-up (watermark and rows),
    # and the surveys overall, per agent, tag and day, and their comments. What messaging costs
    # (reports/costs.py) adds three: the watermark, its tallies before it and the priced
    # messages from it on (and, when messages carry pricing, one each for
    # the names of their channels, agents and templates: three more, whatever their number).
    # The top bar's availability (routing.context_processors: one a page) is the last one.
    # Listed on SQLite and compared with the grown data below: the same statements, none per row.
    expected = 15 + 14 + 3 + 1 + (connection.vendor == "postgresql")
    with django_assert_num_queries(expected):
        assert client.get(URL, params).status_code == 200

    more_agents = [UserFactory() for _ in range(3)]
    for n in range(12):
        c = conversation(cast.channel, at(f"03-1{n % 3} 1{n % 10}:00:00"))
        c.tags.add(TagFactory(name=f"tag-{n}"))
        c.topics.add(TopicFactory(name=f"topic-{n}"))
        msg(c, c.opened_at)
        msg(c, c.opened_at + timedelta(minutes=n + 1), out=True, author=more_agents[n % 3])
    tallies.rebuild()  # the factories bypass the services that keep the pre-aggregates
    with django_assert_num_queries(expected):
        response = client.get(URL, params)
    assert response.context["report"].summary.opened == 18
    assert len(response.context["report"].agents) == 5

    # All channels costs the same (no channel_for, one more channel in the list).
    GrantFactory(channel=ChannelFactory(), user=cast.supervisor, role=Role.SUPERVISOR)
    with django_assert_num_queries(expected - 1):
        assert client.get(URL, DATES).status_code == 200


# --- CSV -----------------------------------------------------------------------------------


def test_csv_exports_have_exact_figures(client, history):
    login(client, history.cast.supervisor)
    base = {"channel": history.a.pk, **DATES, "format": "csv"}

    response = client.get(URL, {**base, "table": "summary"})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="report-summary-20250310-20250312.csv"' in response["Content-Disposition"]
    summary = dict(rows(response)[1:])
    assert summary["opened"] == "6"
    assert summary["resolved_by_agents"] == "2"
    assert summary["resolved_automatically"] == "1"
    assert summary["reopened"] == "1"
    assert summary["replies_outside_window"] == "1"
    assert summary["first_response_median_s"] == "120"
    assert summary["first_response_p90_s"] == "720"
    assert summary["resolution_time_p90_s"] == "128520"
    assert summary["time_zone"] == "Europe/Berlin"

    assert rows(client.get(URL, {**base, "table": "daily"})) == [
        ["day", "opened", "resolved", "messages_in", "messages_out", "first_response_median_s"],
        ["2025-03-10", "3", "1", "4", "4", "120"],
        ["2025-03-11", "2", "1", "2", "1", "300"],
        ["2025-03-12", "1", "1", "1", "1", "30"],
    ]
    assert rows(client.get(URL, {**base, "table": "agents"})) == [
        [
            "agent",
            "replies",
            "replies_outside_window",
            "resolved",
            "first_responses",
            "first_response_median_s",
        ],
        ["Alice Agent", "4", "0", "1", "3", "300"],
        ["bob", "2", "1", "1", "2", "75"],
    ]
    assert rows(client.get(URL, {**base, "table": "tags"})) == [
        ["tag", "opened", "resolved", "first_response_median_s"],
        ["billing", "2", "1", "90"],
        ["vip", "1", "0", ""],
    ]
    assert rows(client.get(URL, {**base, "table": "topics"}))[1] == ["Orders", "2", "2", "180"]


def test_unknown_csv_table_is_400(client, cast):
    login(client, cast.supervisor)
    response = client.get(URL, {"format": "csv", "table": "everything"})
    assert response.status_code == 400
    assert b"Unknown table" in response.content
