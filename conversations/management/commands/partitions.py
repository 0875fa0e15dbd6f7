"""`manage.py partitions`: the monthly partitions of messages and events, by hand. Beat runs the
same maintenance daily (conversations.tasks.maintain_partitions); docs/partitions.md."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from config.management import DeskCommand
from conversations import partitions

MAX_AHEAD = 36
MAX_RETENTION = 1200


class Command(DeskCommand):
    help = _(
        "Create the message and event partitions of the coming months and drop those older "
        "than the retention (PostgreSQL; SQLite keeps plain tables)."
    )

    def add_arguments(self, parser):
        self.add_dry_run_arg(parser)
        parser.add_argument(
            "--ahead",
            metavar="N",
            help=_("Months ahead to create (default PARTITION_MONTHS_AHEAD, %(default)s).")
            % {"default": settings.PARTITION_MONTHS_AHEAD},
        )
        parser.add_argument(
            "--retention-months",
            metavar="N",
            help=_(
                "Drop history older than the current month and the N months before it; 0 keeps "
                "everything (default HISTORY_RETENTION_MONTHS, %(default)s)."
            )
            % {"default": settings.HISTORY_RETENTION_MONTHS},
        )
        parser.add_argument(
            "--list", action="store_true", help=_("List the partitions and change nothing.")
        )

    def handle(self, *args, **options):
        ahead = self.positive_int(
            options, "ahead", default=settings.PARTITION_MONTHS_AHEAD, maximum=MAX_AHEAD
        )
        retention = self._retention(options.get("retention_months"))
        if not all(partitions.is_partitioned(table) for table in partitions.TABLES):
            self.stdout.write(_("Messages and events are plain tables here: nothing to do."))
            return
        if options["list"]:
            for table in partitions.TABLES:
                for p in partitions.partitions(table):
                    span = f"{p.start:%Y-%m-%d} .. {p.end:%Y-%m-%d}" if p.start else _("default")
                    self.stdout.write(f"{p.name}\t{span}")
            return
        dry_run = options["dry_run"]
        result = partitions.maintain(
            timezone.now(), ahead=ahead, retention=retention, dry_run=dry_run
        )
        verb_create = _("Would create") if dry_run else _("Created")
        verb_drop = _("Would drop") if dry_run else _("Dropped")
        for name in result.created:
            self.stdout.write(f"{verb_create} {name}")
        for name in result.dropped:
            self.stdout.write(f"{verb_drop} {name}")
        if result.moved:
            self.stdout.write(
                _("%(n)s rows moved from the default partitions.") % {"n": result.moved}
            )
        if not result.created and not result.dropped:
            self.stdout.write(_("Nothing to do."))

    def _retention(self, raw) -> int:
        if raw is None:
            return settings.HISTORY_RETENTION_MONTHS
        value = str(raw).strip()
        if not value.isdigit() or int(value) > MAX_RETENTION:
            raise CommandError(
                _("--retention-months must be a whole number from 0 to %(maximum)s, not %(value)r.")
                % {"maximum": MAX_RETENTION, "value": raw}
            )
        return int(value)
