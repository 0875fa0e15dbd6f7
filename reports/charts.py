"""Server-rendered SVG line charts for the reports page: no script, nothing from the internet.

Each chart is an ``<svg role="img">`` with a ``<title>`` and ``<desc>`` (read by screen
readers); the page puts the same numbers in a table beside it. This module computes the
geometry; the markup is the compiled, autoescaped Jinja2 template TEMPLATE (config/jinja2.py),
which escapes every text that goes into it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from django.template import engines
from django.utils import formats
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from reports.figures import format_duration

TEMPLATE = "reports/_line_chart.html"  # under reports/jinja2/
# The drawing's own units. About the width the chart is shown at on a laptop (three charts side
# by side) so that its text keeps the size reports.css gives it; a phone shows it at ~0.7x.
WIDTH, HEIGHT = 480, 220
TOP, BOTTOM = 30, 26
MAX_X_LABELS = 6
Y_TICKS = 4
# The largest type reports.css sets for axis and legend text (on a phone), and the width of an
# average character as a share of it: margins are sized for it so no label is ever cut off.
AXIS_PX, LEGEND_PX, CHAR_EM = 14, 15, 0.62


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    css: str  # a class from reports.css that sets the colour and the dash pattern


def _text_width(text: str, px: float = AXIS_PX) -> float:
    """A generous estimate of how wide ``text`` is drawn at ``px`` (no font metrics server-side)."""
    return len(text) * px * CHAR_EM


def _axis(peak: float, *, whole: bool) -> tuple[float, float]:
    """(top, step) of the value axis: steps of 1, 2 or 5 x 10^n, at most Y_TICKS of them, the
    top the first step at or above ``peak``. ``whole`` keeps steps whole numbers (counts)."""
    if peak <= 0:
        return 1.0, 1.0
    rough = peak / Y_TICKS
    exponent = math.floor(math.log10(rough))
    step = 10.0 ** (exponent + 1)
    for factor in (1, 2, 5):
        if factor * 10**exponent >= rough:
            step = factor * 10.0**exponent
            break
    if whole:
        step = max(1.0, step)
    return step * math.ceil(peak / step - 1e-9), step


def count_label(value: float) -> str:
    """A count or an axis value in the active language: "1,250" / "1.250", "2.5" / "2,5"."""
    places = 0 if value == int(value) else 1
    return formats.number_format(value, places, use_l10n=True, force_grouping=True)


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
    whole: bool = True,
) -> SafeString:
    """One SVG line chart: a line (and a dot per day) per series over the day labels.

    A gap in a series (None) breaks its line. Values are divided by ``unit_divisor`` for the
    axis and shown with ``value_label`` in each dot's tooltip; ``whole`` keeps the axis on whole
    numbers (counts). The margins are sized for the longest axis label, so none is cut off.
    """
    n = len(labels)
    scaled = [[None if v is None else v / unit_divisor for v in s.values] for s in series]
    peak = max((v for values in scaled for v in values if v is not None), default=0)
    top, step = _axis(peak, whole=whole)
    ticks = [step * k for k in range(round(top / step) + 1)]
    tick_texts = [f"{count_label(v)} {unit}".strip() for v in ticks]
    shown = range(0, n, max(1, math.ceil(n / MAX_X_LABELS)))
    # Room on the left for the widest value label and half the first day label; on the right
    # for half the last day label (each is centred under its dot).
    first_half = _text_width(labels[0]) / 2 if n else 0
    last_half = _text_width(labels[shown[-1]]) / 2 if n else 0
    left = math.ceil(max(max(_text_width(t) for t in tick_texts) + 8, first_half + 4))
    right = math.ceil(max(12, last_half + 4))
    plot_w, plot_h = WIDTH - left - right, HEIGHT - TOP - BOTTOM

    def x(i: int) -> float:
        return left + (plot_w / 2 if n == 1 else plot_w * i / (n - 1))

    def y(v: float) -> float:
        return TOP + plot_h - plot_h * v / top

    xs = [f"{x(i):.1f}" for i in range(n)]
    # One formatting per distinct value a render (the language is fixed for it): number_format
    # and format_duration cost more than a dot's markup.
    value_text = lru_cache(maxsize=None)(value_label)
    radius = 3 if n <= 62 else 1.5  # with many days the dots are small so the lines stay readable
    drawn = []
    legend_x = left
    for s, values in zip(series, scaled, strict=True):
        lines, points = [], []
        for i, v in enumerate(values):
            if v is None:
                if len(points) > 1:
                    lines.append(" ".join(points))
                points = []
            else:
                points.append(f"{xs[i]},{y(v):.1f}")
        if len(points) > 1:
            lines.append(" ".join(points))
        # (x, y, tooltip) of each dot; the tooltip is plain text, escaped by the template.
        dots = [
            (xs[i], f"{y(v):.1f}", f"{labels[i]}: {s.name} {value_text(raw)}")
            for i, (raw, v) in enumerate(zip(s.values, values, strict=True))
            if v is not None
        ]
        drawn.append(
            {"css": s.css, "name": s.name, "lines": lines, "dots": dots, "legend_x": legend_x}
        )
        legend_x += math.ceil(16 + _text_width(s.name, LEGEND_PX) + 18)
    context = {
        "id": chart_id,
        "title": title,
        "desc": desc,
        "width": WIDTH,
        "height": HEIGHT,
        "left": left,
        "grid_end": WIDTH - right,
        "tick_x": left - 6,
        "ticks": [
            {"y": f"{y(v):.1f}", "text_y": f"{y(v) + 4:.1f}", "text": text}
            for v, text in zip(ticks, tick_texts, strict=True)
        ],
        "label_y": HEIGHT - 6,
        "x_labels": [(xs[i], labels[i]) for i in shown],
        "series": drawn,
        "radius": radius,
        "empty": None
        if peak
        else {"x": f"{left + plot_w / 2:.1f}", "y": f"{TOP + plot_h / 2:.1f}"},
    }
    svg = engines["jinja2"].env.get_template(TEMPLATE).render(context)
    return mark_safe(svg)  # noqa: S308 - the output of an autoescaped template


def daily_charts(days: Sequence) -> list[dict]:
    """The page's three charts over ``reports.Day`` rows: conversations, messages, and the
    median first response per day. Each: ``{"id", "title", "svg"}``."""
    # Day labels in the active language ("6 Dec" / "6. Dez."), the year only for a single day.
    label_format = "MONTH_DAY_FORMAT" if len(days) > 1 else "DATE_FORMAT"
    labels = [formats.date_format(d.day, label_format) for d in days]
    first, last = (
        (formats.date_format(days[0].day), formats.date_format(days[-1].day)) if days else ("", "")
    )
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
                % {
                    "opened": count_label(total("opened")),
                    "resolved": count_label(total("resolved")),
                    "span": span,
                },
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
                    "inbound": count_label(total("messages_in")),
                    "outbound": count_label(total("messages_out")),
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
                whole=False,
            ),
        },
    ]
