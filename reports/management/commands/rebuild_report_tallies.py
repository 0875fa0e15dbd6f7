"""`manage.py rebuild_report_tallies`: recompute the reports' pre-aggregates from the messages."""

from __future__ import annotations

from django.utils.translation import gettext as _

from config.management import DeskCommand
from reports import tallies


class Command(DeskCommand):
    help = _(
        "Recompute the reports' message, conversation and cost tallies and the first responders "
        "from the stored messages and conversations (after a bulk load that bypassed the "
        "services, after an upgrade, or to repair them). Safe to run at any time; one "
        "transaction."
    )

    def add_arguments(self, parser):
        self.add_channel_arg(parser)

    def handle(self, *args, **options):
        channel = self.get_channel(options)
        result = tallies.rebuild(channel_ids=None if channel is None else [channel.pk])
        self.stdout.write(
            _("%(tallies)d tally rows written, %(conversations)d answered conversations updated.")
            % result
        )
