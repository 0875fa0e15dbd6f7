"""The service-level figures in the reports' summary CSV and in ``manage.py report --json``,
exact from the fixed timestamps of test_reports.py's world (Berlin days 9-11 March 2026): the
same builder as the page, so the same figures. Where they read: test_reports_routing.py."""

from __future__ import annotations

import csv
import io
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from channels_app.access import Role
from tests.factories import GrantFactory, ProfileFactory
from tests.service_levels.test_reports import world  # noqa: F401

URL = reverse("reports:index")
DATES = {"range": "custom", "from": "2026-03-09", "to": "2026-03-11"}
COMMAND = ("--from", "2026-03-09", "--to", "2026-03-11", "--tz", "Europe/Berlin", "--json")

# What the page shows for this world (tests/service_levels/test_reports.py), as CSV cells.
SUMMARY = {
    "sla_settled": "5",
    "sla_met": "3",
    "sla_met_percent": "60",
    "sla_first_response_settled": "2",
    "sla_first_response_met": "1",
    "sla_first_response_met_percent": "50",
    "sla_next_response_settled": "2",
    "sla_next_response_met": "1",
    "sla_next_response_met_percent": "50",
    "sla_resolution_settled": "1",
    "sla_resolution_met": "1",
    "sla_resolution_met_percent": "100",
    "first_response_business_count": "3",
    "first_response_business_median_s": "600",
    "first_response_business_p90_s": "1560",
    "resolution_business_count": "1",
    "resolution_business_median_s": "28800",
    "resolution_business_p90_s": "28800",
    "csat_sent": "4",
    "csat_answered": "3",
    "csat_response_rate_percent": "75",
    "csat_average_score": "4",
    "csat_satisfied_percent": "66.7",
}


def supervisor(client, cast, channel):
    GrantFactory(channel=channel, user=cast.supervisor, role=Role.SUPERVISOR)
    ProfileFactory(user=cast.supervisor, time_zone="Europe/Berlin")
    client.force_login(cast.supervisor)


def summary_csv(client, channel) -> list[list[str]]:
    response = client.get(
        URL, {**DATES, "channel": channel.pk, "format": "csv", "table": "summary"}
    )
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(response.content.decode())))


def command_json(channel) -> dict:
    out = StringIO()
    call_command("report", "--channel", str(channel.pk), *COMMAND, stdout=out)
    return json.loads(out.getvalue())


@pytest.mark.django_db
def test_the_summary_csv_ends_with_the_service_level_figures(client, cast, world):  # noqa: F811
    channel, *_ = world
    supervisor(client, cast, channel)
    rows = summary_csv(client, channel)
    assert rows[0] == ["figure", "value"]
    assert rows[-len(SUMMARY) :] == [[k, v] for k, v in SUMMARY.items()]
    assert dict(rows[1:])["time_zone"] == "Europe/Berlin"
    # The other tables are unchanged.
    daily = client.get(URL, {**DATES, "channel": channel.pk, "format": "csv", "table": "daily"})
    assert "sla_" not in daily.content.decode()


@pytest.mark.django_db
def test_the_command_json_has_the_service_level_figures(world):  # noqa: F811
    channel, *_ = world
    levels = command_json(channel)["service_levels"]
    assert [(t["key"], t["settled"], t["met"], t["percent"]) for t in levels["targets"]] == [
        ("first_response", 2, 1, 50.0),
        ("next_response", 2, 1, 50.0),
        ("resolution", 1, 1, 100.0),
        (None, 5, 3, 60.0),
    ]
    assert [(d["key"], d["settled"], d["met"]) for d in levels["days"]] == [
        ("2026-03-09", 2, 1),
        ("2026-03-10", 2, 1),
        ("2026-03-11", 1, 1),
    ]
    assert [(a["name"], a["percent"]) for a in levels["agents"]] == [
        ("Alice Adams", 75.0),
        ("Bob Brown", 0.0),
    ]
    assert levels["first_response_business"] == {"count": 3, "median": 600.0, "p90": 1560.0}
    assert levels["resolution_business"] == {"count": 1, "median": 28800.0, "p90": 28800.0}
    csat = levels["csat"]
    assert (csat["sent"], csat["answered"], csat["response_rate"], csat["average"]) == (
        4,
        3,
        75.0,
        4.0,
    )
    assert csat["percent_satisfied"] == 66.7
    assert [(d["key"], d["sent"], d["answered"]) for d in levels["csat_days"]] == [
        ("2026-03-09", 1, 1),
        ("2026-03-10", 2, 1),
        ("2026-03-11", 1, 1),
    ]
    assert [(c["score"], c["comment"], c["agent"]) for c in levels["comments"]] == [
        (5, "Great help", "Alice Adams")
    ]
