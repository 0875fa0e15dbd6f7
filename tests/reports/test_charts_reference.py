"""The reports page's SVG charts (reports/charts.py) against reference files: the markup expected
for fixed days, in English and German, under tests/fixtures/charts/.

The reference files were written from the charts as the f-string builder drew them before the
fragments moved into the Jinja2 template reports/jinja2/reports/_line_chart.html, so they pin
that the move changed nothing but whitespace and the spelling of two entities. To rewrite them
after a deliberate change: DESK_WRITE_CHART_FIXTURES=1 pytest this file, then read the diff.
"""

import os
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.utils import translation

from reports import charts, figures
from tests.markup import same_markup

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "charts"


def _matches_reference(svg: str, name: str) -> None:
    got = same_markup(svg)
    path = FIXTURES / name
    if os.environ.get("DESK_WRITE_CHART_FIXTURES"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(got.replace("><", ">\n<") + "\n", encoding="utf-8")
    assert got == same_markup(path.read_text(encoding="utf-8")), f"{name} differs"


def _days(first: date, values: list[tuple]) -> list[figures.Day]:
    """One Day per (opened, resolved, in, out, median first response in seconds or None)."""
    return [
        figures.Day(first + timedelta(days=i), o, r, mi, mo, figures.Duration(frt))
        for i, (o, r, mi, mo, frt) in enumerate(values)
    ]


PERIODS = {
    # A week with a day without any reply (a gap in the first-response line).
    "week": _days(
        date(2026, 11, 29),
        [
            (12, 9, 40, 35, 95),
            (3, 4, 11, 9, None),
            (7, 7, 20, 22, 610),
            (1250, 300, 2, 0, 4000),
            (0, 0, 0, 0, None),
            (5, 6, 15, 14, 30),
            (8, 2, 24, 19, 7200),
        ],
    ),
    "one_day": _days(date(2026, 3, 1), [(4, 3, 10, 8, 45.5)]),
    "empty": _days(date(2026, 3, 1), [(0, 0, 0, 0, None)] * 3),
    # Over 62 days: small dots, every ~fifteenth day labelled, durations in days.
    "quarter": _days(
        date(2026, 1, 1),
        [
            (g % 17, g % 11, g % 23, g % 19, None if g % 9 == 0 else 3 * 86400 + g * 977)
            for g in range(90)
        ],
    ),
}


@pytest.mark.parametrize("language", ["en", "de"])
@pytest.mark.parametrize("period", sorted(PERIODS))
def test_daily_charts_match_the_reference(period, language):
    with translation.override(language):
        drawn = charts.daily_charts(PERIODS[period])
    assert [c["id"] for c in drawn] == [
        "chart-conversations",
        "chart-messages",
        "chart-first-response",
    ]
    svg = "\n".join(f"<!-- {c['title']} -->{c['svg']}" for c in drawn)
    _matches_reference(svg, f"{period}.{language}.svg")


def test_every_text_in_a_chart_is_escaped():
    svg = charts.line_chart(
        chart_id="c1",
        title='Tom & "Jerry" <b>',
        desc="<script>alert(1)</script>",
        labels=["<i>1</i>", "2 & 3"],
        series=[charts.Series("A<b>", [1, None], 'x" onload="y'), charts.Series("B", [2, 3], "s")],
        value_label=lambda v: f"<{v}>",
        unit="<u>",
    )
    assert "<script>" not in svg and "<b>" not in svg and "<i>" not in svg and "<u>" not in svg
    assert 'onload="y' not in svg
    _matches_reference(svg, "escaped.svg")
