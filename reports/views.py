"""The supervisor reports page and its CSV exports (``?format=csv&table=...``).

Thin: access through channels_app.access (a channel the user cannot see is a 404, one they see
below Supervisor a 403), filters through reports.forms, every figure from build.build_report.
"""

from __future__ import annotations

import csv
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from channels_app.access import Cap, channel_for, channels_where, remember_sees_reports
from config.db_routing import reading_reports
from reports import build, charts, costs, figures
from reports import service_levels as service_levels_figures
from reports.forms import ReportFilterForm

CSV_TABLES = ("summary", "daily", "agents", "tags", "topics")
# A cell starting with one of these is a formula to a spreadsheet: tag, topic and agent names
# are user-entered, so such cells get a leading apostrophe (OWASP "CSV injection"). Spreadsheets
# read the full-width and small forms (＝ ＋ － ＠, ﹦ ﹢ ﹣ ﹫) as the ASCII ones, and skip
# leading spaces before a formula.
FORMULA_PREFIXES = (
    "=", "+", "-", "@", "\t", "\r", "\n",
    "\uff1d", "\uff0b", "\uff0d", "\uff20",  # full-width = + - @
    "\ufe66", "\ufe62", "\ufe63", "\ufe6b",  # small = + - @
)  # fmt: skip
LEADING_SPACE = " \u00a0\u3000"  # space, no-break space, ideographic (full-width) space


@require_GET
@login_required
def index(request):
    """The page (or one of its tables as CSV) for the user's Supervisor channels."""
    try:
        return _index(request)
    except PermissionDenied as exc:
        return render(
            request,
            "reports/denied.html",
            {"reason": str(exc) or _("You are not allowed to see these reports.")},
            status=403,
        )


def _index(request):
    user = request.user
    requested = request.GET.get("channel", "").strip()
    if requested:
        channel_for(user, requested, needs=Cap.REPORTS)  # 404 when invisible, 403 below Supervisor
    channels = list(channels_where(user, Cap.REPORTS))
    remember_sees_reports(user, [c.effective_role for c in channels])  # the top bar's link
    if not channels:
        raise PermissionDenied(
            _("Reports are for Supervisors, and you are not a Supervisor of any channel.")
        )

    tz = timezone.get_current_timezone()
    now = timezone.now()
    form = ReportFilterForm(
        request.GET, channels=channels, today=timezone.localdate(now, tz), tz=tz
    )
    wants_csv = request.GET.get("format") == "csv"
    table = request.GET.get("table", "")
    if wants_csv and table not in CSV_TABLES:
        return HttpResponseBadRequest(
            _("Unknown table %(table)r: choose one of %(tables)s.")
            % {"table": table, "tables": ", ".join(CSV_TABLES)},
            content_type="text/plain; charset=utf-8",
        )
    if not form.is_valid():
        if wants_csv:
            errors = "; ".join(str(e) for errs in form.errors.values() for e in errs)
            return HttpResponseBadRequest(errors, content_type="text/plain; charset=utf-8")
        return render(request, "reports/index.html", {"form": form, "report": None})

    chosen = form.cleaned_data["channel"]
    channel_ids = [chosen.pk] if chosen else [c.pk for c in channels]
    with reading_reports():  # one database (replica or primary) for every section of the page
        report = build.build_report(
            channel_ids=channel_ids,
            period=form.cleaned_data["period"],
            now=now,
        )
        if wants_csv:
            levels = None
            if table == "summary":
                levels = service_levels_figures.build(channel_ids=channel_ids, period=report.period)
            return _csv_response(report, table, levels)
        messaging_costs = costs.messaging_costs(
            channel_ids=channel_ids, start=report.period.start, end=report.period.end
        )
        service_levels = service_levels_figures.build(channel_ids=channel_ids, period=report.period)

    params = {k: v for k, v in request.GET.items() if k not in ("format", "table") and v}
    return render(
        request,
        "reports/index.html",
        {
            "form": form,
            "report": report,
            "scope": chosen.display_name if chosen else _("All my channels"),
            "charts": charts.daily_charts(report.daily),
            "costs": messaging_costs,
            "service_levels": service_levels,
            "csv": {
                t: "?" + urlencode({**params, "format": "csv", "table": t}) for t in CSV_TABLES
            },
        },
    )


# --- CSV -----------------------------------------------------------------------------------


def _cell(value) -> str:
    if isinstance(value, figures.Duration):
        value = value.seconds
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".")
    text = str(value)
    return "'" + text if text.lstrip(LEADING_SPACE).startswith(FORMULA_PREFIXES) else text


def csv_rows(
    report: figures.Report,
    table: str,
    levels: service_levels_figures.ServiceLevels | None = None,
) -> list[list]:
    """The rows (header first) of one exported table. Headers are identifiers, not prose, so
    a spreadsheet built on them survives a change of the interface language. The summary ends
    with the service-level figures (``levels``, from the same builder as the page)."""
    if table == "summary":
        s = report.summary
        rows = [
            ["from", report.period.first.isoformat()],
            ["to", report.period.last.isoformat()],
            ["time_zone", str(report.period.tz)],
            ["opened", s.opened],
            ["resolved", s.resolved],
            ["resolved_by_agents", s.resolved_by_agents],
            ["resolved_automatically", s.resolved_automatically],
            ["reopened", s.reopened],
            ["messages_in", s.messages_in],
            ["messages_out", s.messages_out],
            ["replies_outside_window", s.outside_window],
            ["first_responses", s.first_response.count],
            ["first_response_median_s", s.first_response.median],
            ["first_response_p90_s", s.first_response.p90],
            ["resolution_time_count", s.resolution.count],
            ["resolution_time_median_s", s.resolution.median],
            ["resolution_time_p90_s", s.resolution.p90],
        ]
        for q in report.queues:
            rows += [
                [f"queue_{q.status}", q.size],
                [f"queue_{q.status}_oldest_age_s", q.oldest_age],
            ]
        if levels is not None:
            rows += levels.summary_rows()
        return [["figure", "value"], *rows]
    if table == "daily":
        return [
            ["day", "opened", "resolved", "messages_in", "messages_out", "first_response_median_s"],
            *(
                [
                    d.day.isoformat(),
                    d.opened,
                    d.resolved,
                    d.messages_in,
                    d.messages_out,
                    d.first_response_median,
                ]
                for d in report.daily
            ),
        ]
    if table == "agents":
        return [
            [
                "agent",
                "replies",
                "replies_outside_window",
                "resolved",
                "first_responses",
                "first_response_median_s",
            ],
            *(
                [
                    a.name,
                    a.replies,
                    a.outside_window,
                    a.resolved,
                    a.first_responses,
                    a.first_response_median,
                ]
                for a in report.agents
            ),
        ]
    rows = report.tags if table == "tags" else report.topics
    return [
        [table[:-1], "opened", "resolved", "first_response_median_s"],
        *([r.name, r.opened, r.resolved, r.first_response_median] for r in rows),
    ]


def _csv_response(report: figures.Report, table: str, levels=None) -> HttpResponse:
    name = f"report-{table}-{report.period.first:%Y%m%d}-{report.period.last:%Y%m%d}.csv"
    response = HttpResponse(
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
    writer = csv.writer(response)
    writer.writerows([_cell(v) for v in row] for row in csv_rows(report, table, levels))
    return response
