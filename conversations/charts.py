"""Server-rendered SVG line charts for the reports page: no script, nothing from the internet.

Each chart is an ``<svg role="img">`` with a ``<title>`` and ``<desc>`` (read by screen
readers); the page puts the same numbers in a table beside it. Every text that goes into the
markup is escaped here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from conversations.reports import format_duration

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 66, 12, 30, 30
MAX_X_LABELS = 8
Y_TICKS = 4


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    css: str  # a class from reports.css that sets the colour and the dash pattern


def _nice_ceiling(value: float) -> float:
    """The smallest 1/2/2.5/5 x 10^n at or above value, so grid lines fall on round numbers."""
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        candidate = step * 10**exponent
        if candidate >= value:
            return candidate
    return 10 ** (exponent + 1)  # pragma: no cover


def count_label(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def duration_axis(max_seconds: float) -> tuple[float, str]:
    """(divisor, unit) that keeps the axis numbers readable for the largest value."""
    if max_seconds < 120:
        return 1, _("s")
    if max_seconds < 2 * 3600:
        return 60, _("min")
    if max_seconds < 48 * 3600:
        return 3600, _("h")
    return 86400, _("d")


def line_chart(
    *,
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    value_label: Callable[[float], str] = count_label,
    unit_divisor: float = 1,
    unit: str = "",
) -> SafeString:
    """One SVG line chart: a line (and a dot per day) per series over the day labels.

    A gap in a series (None) breaks its line. Values are divided by ``unit_divisor`` for the
    axis and shown with ``value_label`` in each dot's tooltip.
    """
    n = len(labels)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    scaled = [[None if v is None else v / unit_divisor for v in s.values] for s in series]
    peak = max((v for values in scaled for v in values if v is not None), default=0)
    top = _nice_ceiling(peak)

    def x(i: int) -> float:
        return LEFT + (plot_w / 2 if n == 1 else plot_w * i / (n - 1))

    def y(v: float) -> float:
        return TOP + plot_h - plot_h * v / top

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" preserveAspectRatio="xMidYMid meet">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(desc)}</desc>',
    ]
    for k in range(Y_TICKS + 1):
        value = top * k / Y_TICKS
        gy = y(value)
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{gy:.1f}" y2="{gy:.1f}"/>'
        )
        text = escape(f"{count_label(value)} {unit}".strip())
        parts.append(
            f'<text class="axis" x="{LEFT - 6}" y="{gy + 4:.1f}" text-anchor="end">{text}</text>'
        )
    step = max(1, math.ceil(n / MAX_X_LABELS))
    parts.extend(
        f'<text class="axis" x="{x(i):.1f}" y="{HEIGHT - 8}" text-anchor="middle">'
        f"{escape(labels[i])}</text>"
        for i in range(0, n, step)
    )

    legend_x = LEFT
    for s, values in zip(series, scaled, strict=True):
        parts.append(f'<g class="series {escape(s.css)}">')
        segment: list[str] = []
        segments: list[list[str]] = []
        for i, v in enumerate(values):
            if v is None:
                if segment:
                    segments.append(segment)
                segment = []
                continue
            segment.append(f"{x(i):.1f},{y(v):.1f}")
        if segment:
            segments.append(segment)
        parts.extend(
            f'<polyline fill="none" points="{" ".join(points)}"/>'
            for points in segments
            if len(points) > 1
        )
        # Dots carry a tooltip; with many days they are drawn small so the lines stay readable.
        radius = 3 if n <= 62 else 1.5
        for i, (raw, v) in enumerate(zip(s.values, values, strict=True)):
            if v is None:
                continue
            tip = escape(f"{labels[i]}: {s.name} {value_label(raw)}")
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="{radius}">'
                f"<title>{tip}</title></circle>"
            )
        parts.append(
            f'<rect x="{legend_x}" y="8" width="12" height="12" rx="2"/>'
            f'<text class="legend" x="{legend_x + 16}" y="18">{escape(s.name)}</text>'
        )
        # Room for the name at the larger type used on phones (reports.css).
        legend_x += 34 + 11 * len(s.name)
        parts.append("</g>")
    if peak == 0:
        parts.append(
            f'<text class="axis" x="{LEFT + plot_w / 2}" y="{TOP + plot_h / 2}" '
            f'text-anchor="middle">{escape(_("Nothing in this period"))}</text>'
        )
    parts.append("</svg>")
    # Every interpolated text above went through escape(); numbers are formatted by us.
    return mark_safe("".join(parts))  # noqa: S308


def daily_charts(days: Sequence) -> list[dict]:
    """The page's three charts over ``reports.Day`` rows: conversations, messages, and the
    median first response per day. Each: ``{"id", "title", "svg"}``."""
    labels = [f"{d.day:%d %b}" if len(days) > 1 else f"{d.day:%d %b %Y}" for d in days]
    first, last = (days[0].day, days[-1].day) if days else (None, None)
    span = _("from %(first)s to %(last)s") % {"first": first, "last": last}
    frt = [d.first_response_median.seconds for d in days]
    divisor, unit = duration_axis(max((v for v in frt if v is not None), default=0))

    def total(attr: str) -> int:
        return sum(getattr(d, attr) for d in days)

    return [
        {
            "id": "chart-conversations",
            "title": _("Conversations per day"),
            "svg": line_chart(
                chart_id="chart-conversations",
                title=_("Conversations opened and resolved per day"),
                desc=_("%(opened)s opened and %(resolved)s resolved, %(span)s.")
                % {"opened": total("opened"), "resolved": total("resolved"), "span": span},
                labels=labels,
                series=[
                    Series(_("Opened"), [d.opened for d in days], "s-opened"),
                    Series(_("Resolved"), [d.resolved for d in days], "s-resolved"),
                ],
            ),
        },
        {
            "id": "chart-messages",
            "title": _("Messages per day"),
            "svg": line_chart(
                chart_id="chart-messages",
                title=_("Messages in and out per day"),
                desc=_("%(inbound)s messages in and %(outbound)s out, %(span)s.")
                % {
                    "inbound": total("messages_in"),
                    "outbound": total("messages_out"),
                    "span": span,
                },
                labels=labels,
                series=[
                    Series(_("In"), [d.messages_in for d in days], "s-in"),
                    Series(_("Out"), [d.messages_out for d in days], "s-out"),
                ],
            ),
        },
        {
            "id": "chart-first-response",
            "title": _("Median first response per day"),
            "svg": line_chart(
                chart_id="chart-first-response",
                title=_("Median first response time per day"),
                desc=_(
                    "The median time from the customer's first message to the first reply, "
                    "for conversations opened each day, %(span)s. Days without a reply are gaps."
                )
                % {"span": span},
                labels=labels,
                series=[Series(_("Median"), frt, "s-frt")],
                value_label=lambda v: format_duration(v),
                unit_divisor=divisor,
                unit=unit,
            ),
        },
    ]
