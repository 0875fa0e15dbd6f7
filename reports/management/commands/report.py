"""`manage.py report`: the supervisor report of one channel, for ops (text or JSON)."""

from __future__ import annotations

import json
import zoneinfo
from datetime import date

from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from config.db_routing import reading_reports
from config.management import DeskCommand
from reports import build, figures, service_levels
from reports.forms import EARLIEST, LATEST


class Command(DeskCommand):
    help = _(
        "Print the reports page's figures for one channel and a range of days (both included), "
        "with days in the given time zone (default UTC)."
    )

    def add_arguments(self, parser):
        self.add_channel_arg(parser)
        parser.add_argument("--from", dest="first", metavar="YYYY-MM-DD", help=_("First day."))
        parser.add_argument("--to", dest="last", metavar="YYYY-MM-DD", help=_("Last day."))
        parser.add_argument(
            "--tz", default="UTC", metavar="ZONE", help=_("IANA time zone, e.g. Europe/Berlin.")
        )
        parser.add_argument("--json", action="store_true", help=_("Print JSON instead of text."))

    def handle(self, *args, **options):
        if not options.get("channel"):
            raise CommandError(_("--channel is required."))
        first = self._date(options, "first", "--from")
        last = self._date(options, "last", "--to")
        if first > last:
            raise CommandError(_("--from must not be after --to."))
        if (last - first).days + 1 > figures.MAX_DAYS:
            raise CommandError(
                _("A report covers at most %(days)d days.") % {"days": figures.MAX_DAYS}
            )
        try:
            tz = zoneinfo.ZoneInfo(options["tz"])
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise CommandError(
                _("Unknown time zone %(tz)r: use an IANA name such as Europe/Berlin.")
                % {"tz": options["tz"]}
            ) from None
        channel = self.get_channel(options)
        period = figures.Period(first=first, last=last, tz=tz)
        with reading_reports():  # one database (replica or primary) for the whole report
            report = build.build_report(channel_ids=[channel.pk], period=period, now=timezone.now())
            levels = service_levels.build(channel_ids=[channel.pk], period=report.period)
        if options["json"]:
            data = {
                "channel": {"id": channel.pk, "name": channel.display_name},
                **report.as_dict(),
                "service_levels": levels.as_dict(),
            }
            self.stdout.write(json.dumps(data, indent=2))
            return
        self._write_text(channel, report)

    def _date(self, options: dict, key: str, flag: str) -> date:
        raw = options.get(key)
        if not raw:
            raise CommandError(_("%(flag)s is required (YYYY-MM-DD).") % {"flag": flag})
        try:
            value = date.fromisoformat(raw)
        except ValueError:
            raise CommandError(
                _("%(flag)s must be a date as YYYY-MM-DD, not %(value)r.")
                % {"flag": flag, "value": raw}
            ) from None
        if not EARLIEST <= value <= LATEST:
            raise CommandError(
                _("%(flag)s must lie between %(earliest)s and %(latest)s.")
                % {"flag": flag, "earliest": EARLIEST, "latest": LATEST}
            )
        return value

    def _write_text(self, channel, report: figures.Report) -> None:
        s, out = report.summary, self.stdout.write
        out(
            _("%(channel)s (#%(id)s), %(first)s to %(last)s, days in %(tz)s")
            % {
                "channel": channel.display_name,
                "id": channel.pk,
                "first": report.period.first,
                "last": report.period.last,
                "tz": report.period.tz,
            }
        )
        figures = [
            (_("Conversations opened"), s.opened),
            (_("Resolved"), s.resolved),
            (_("  by agents"), s.resolved_by_agents),
            (_("  auto-resolved"), s.resolved_automatically),
            (_("Reopened"), s.reopened),
            (_("Messages in"), s.messages_in),
            (_("Messages out"), s.messages_out),
            (_("Templates outside the 24-hour window"), s.outside_window),
            (_("First response, median"), s.first_response.median),
            (_("First response, 90th percentile"), s.first_response.p90),
            (_("Resolution time, median"), s.resolution.median),
            (_("Resolution time, 90th percentile"), s.resolution.p90),
        ]
        figures += [
            (_("Queue %(queue)s now") % {"queue": q.label}, f"{q.size} ({q.oldest_age})")
            for q in report.queues
        ]
        width = max(len(str(name)) for name, _value in figures)
        for name, value in figures:
            out(f"  {name!s:<{width}}  {value}")

        out("\n" + _("Per day: opened, resolved, in, out, median first response"))
        for d in report.daily:
            out(
                f"  {d.day}  {d.opened:>7} {d.resolved:>7} {d.messages_in:>8} "
                f"{d.messages_out:>8}  {d.first_response_median}"
            )
        out("\n" + _("Agents: replies (outside window), resolved, first responses (median)"))
        for a in report.agents:
            out(
                f"  {a.name:<30} {a.replies:>7} ({a.outside_window}) {a.resolved:>7} "
                f"{a.first_responses:>7} ({a.first_response_median})"
            )
        for heading, rows in ((_("Tags"), report.tags), (_("Topics"), report.topics)):
            out("\n" + heading + ": " + _("opened, resolved, median first response"))
            for r in rows:
                out(f"  {r.name:<30} {r.opened:>7} {r.resolved:>7}  {r.first_response_median}")
