"""`manage.py autoresolve`: the auto-resolve job, run by hand. Beat runs the same service."""

from __future__ import annotations

import time
from collections import Counter

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from channels_app.models import Channel
from config.management import DeskCommand
from conversations.models import Conversation
from conversations.services import autoresolve

BAR_WIDTH = 30
# Without a terminal (cron, CI logs) a progress line at most this often, not one per batch.
PLAIN_PROGRESS_EVERY_S = 5.0


class Command(DeskCommand):
    help = _(
        "Resolve conversations that waited in New or Pending longer than their channel's "
        "auto-resolve setting. Safe to run while the desk is in use and beside another run."
    )

    def add_arguments(self, parser):
        self.add_channel_arg(parser)
        self.add_dry_run_arg(parser)
        parser.add_argument(
            "--batch-size",
            metavar="N",
            help=_("Conversations per transaction (default %(default)s).")
            % {"default": settings.AUTORESOLVE_BATCH_SIZE},
        )
        parser.add_argument(
            "--workers",
            metavar="N",
            help=_("Batch loops side by side on PostgreSQL (default %(default)s).")
            % {"default": settings.AUTORESOLVE_WORKERS},
        )

    def handle(self, *args, **options):
        batch_size = self.positive_int(
            options,
            "batch_size",
            default=settings.AUTORESOLVE_BATCH_SIZE,
            maximum=autoresolve.MAX_BATCH_SIZE,
        )
        workers = self.positive_int(
            options, "workers", default=settings.AUTORESOLVE_WORKERS, maximum=16
        )
        channel = self.get_channel(options)
        channel_id = channel.pk if channel else None
        now = timezone.now()

        if options["dry_run"]:
            counts = autoresolve.due_counts(now=now, channel_id=channel_id)
            self.write_counts(counts, heading=_("Due now (dry run):"))
            self.stdout.write(_("Dry run: nothing was changed."))
            return

        progress = self.progress_reporter(
            now=now, channel_id=channel_id, verbosity=options["verbosity"]
        )
        with self.stop_on_sigterm():
            summary = autoresolve.autoresolve(
                now=now,
                batch_size=batch_size,
                channel_id=channel_id,
                should_stop=lambda: self.stop_requested,
                on_batch=progress,
                workers=workers,
            )
        if self.stdout.isatty() and summary.batches:
            self.stdout.write("")  # end the progress bar's line

        if summary.skipped:
            self.stdout.write(
                self.style.WARNING(_("Another auto-resolve run is in progress; nothing was done."))
            )
            return
        self.write_counts(summary.resolved, heading=_("Resolved:"))
        self.stdout.write(
            _(
                "%(total)s conversations resolved in %(batches)s batches, %(seconds).1f s "
                "(longest batch %(longest).0f ms)."
            )
            % {
                "total": summary.total,
                "batches": summary.batches,
                "seconds": summary.elapsed,
                "longest": summary.longest_batch * 1000,
            }
        )
        if summary.stopped:
            self.stdout.write(
                self.style.WARNING(
                    _("Stopped on SIGTERM after a whole batch; the next run resolves the rest.")
                )
            )

    def progress_reporter(self, *, now, channel_id, verbosity):
        """A callback for the service: a bar on a terminal, occasional plain lines otherwise."""
        if verbosity < 1:
            return None
        if self.stdout.isatty():
            expected = sum(autoresolve.due_counts(now=now, channel_id=channel_id).values())

            def bar(summary: autoresolve.Summary) -> None:
                done = summary.total
                share = min(done / expected, 1.0) if expected else 1.0
                filled = round(share * BAR_WIDTH)
                self.stdout.write(
                    f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] "
                    f"{done:,}/{expected:,} {share:4.0%}",
                    ending="",
                )
                self.stdout.flush()

            return bar

        last_line = [time.monotonic()]

        def lines(summary: autoresolve.Summary) -> None:
            if verbosity >= 2 or time.monotonic() - last_line[0] >= PLAIN_PROGRESS_EVERY_S:
                last_line[0] = time.monotonic()
                self.stdout.write(
                    _("batch %(batches)s: %(total)s resolved so far")
                    % {"batches": summary.batches, "total": summary.total}
                )
                self.stdout.flush()

        return lines

    def write_counts(self, counts: Counter, *, heading: str) -> None:
        """One line per channel with its New and Pending counts, and a total."""
        self.stdout.write(heading)
        if not counts:
            self.stdout.write("  " + _("nothing"))
            return
        names = Channel.objects.in_bulk({ch for ch, _queue in counts})
        new, pending = Conversation.Status.NEW.value, Conversation.Status.PENDING.value
        for ch_id in sorted({ch for ch, _queue in counts}):
            name = names[ch_id].display_name if ch_id in names else "?"
            self.stdout.write(
                "  "
                + _("#%(id)s %(name)s: %(new)s from New, %(pending)s from Pending")
                % {
                    "id": ch_id,
                    "name": name,
                    "new": counts[(ch_id, new)],
                    "pending": counts[(ch_id, pending)],
                }
            )
        self.stdout.write(
            "  "
            + _("total: %(total)s (%(new)s from New, %(pending)s from Pending)")
            % {
                "total": sum(counts.values()),
                "new": sum(n for (_ch, q), n in counts.items() if q == new),
                "pending": sum(n for (_ch, q), n in counts.items() if q == pending),
            }
        )
