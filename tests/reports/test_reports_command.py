"""`manage.py report`: the same figures as the page, as text or JSON; bad arguments fail."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.reports import test_reports as known

history = known.history  # the known history of test_reports.py (a fixture)


def run(*args: str) -> str:
    out = StringIO()
    call_command("report", *args, stdout=out)
    return out.getvalue()


def test_json_has_the_exact_figures_in_the_given_zone(history):
    data = json.loads(
        run(
            "--channel",
            str(history.a.pk),
            "--from",
            "2025-03-10",
            "--to",
            "2025-03-12",
            "--tz",
            "Europe/Berlin",
            "--json",
        )
    )
    assert data["channel"]["name"] == "Acme Support"
    s = data["summary"]
    assert (s["opened"], s["resolved_by_agents"], s["resolved_automatically"]) == (6, 2, 1)
    assert s["first_response"] == {"count": 5, "median": 120.0, "p90": 720.0}
    assert [d["opened"] for d in data["daily"]] == [3, 2, 1]
    assert [a["name"] for a in data["agents"]] == ["Alice Agent", "bob"]


def test_text_output_in_utc_by_default(history):
    text = run("--channel", str(history.a.pk), "--from", "2025-03-10", "--to", "2025-03-12")
    assert "Acme Support" in text
    assert "days in UTC" in text
    assert "2025-03-11        1" in text  # in UTC only c4 opens on the 11th
    assert "Alice Agent" in text
    assert "billing" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2025-03-10", "--to", "2025-03-12"], "--channel is required"),
        (["--channel", "1", "--to", "2025-03-12"], "--from is required"),
        (["--channel", "1", "--from", "10.03.2025", "--to", "2025-03-12"], "YYYY-MM-DD"),
        (["--channel", "1", "--from", "2025-03-12", "--to", "2025-03-10"], "not be after"),
        (["--channel", "1", "--from", "2020-01-01", "--to", "2025-03-10"], "at most 366 days"),
        (
            ["--channel", "1", "--from", "2025-03-10", "--to", "2025-03-12", "--tz", "Mars/Base"],
            "Unknown time zone",
        ),
        (["--channel", "999999", "--from", "2025-03-10", "--to", "2025-03-12"], "Unknown channel"),
    ],
)
def test_bad_arguments_raise_command_error_with_a_message(db, args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)
