"""A small base for the ops commands: a shared --channel and --dry-run, and SIGTERM handling.

Nothing here touches the database while the parser is built (so `--help` works before
migrations); arguments are validated in handle() and bad ones raise CommandError.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from channels_app.models import Channel


class DeskCommand(BaseCommand):
    stop_requested = False

    def add_channel_arg(self, parser) -> None:
        parser.add_argument(
            "--channel",
            metavar="ID",
            help=_("Only this channel: its id or its WhatsApp phone number ID."),
        )

    def add_dry_run_arg(self, parser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help=_("Report what would be done and change nothing."),
        )

    def get_channel(self, options: dict) -> Channel | None:
        """The channel named by --channel, None when it was not given; CommandError if unknown."""
        raw = options.get("channel")
        if raw is None:
            return None
        value = str(raw).strip()
        channel = None
        # An id is a small number and a phone number ID a long one; try the id first.
        if value.isdigit() and len(value) <= 18:
            channel = Channel.objects.filter(pk=int(value)).first()
        if channel is None and value:
            channel = Channel.objects.filter(phone_number_id=value).first()
        if channel is None:
            raise CommandError(
                _("Unknown channel %(value)r: give a channel id or its phone number ID.")
                % {"value": raw}
            )
        return channel

    def positive_int(self, options: dict, name: str, *, default: int, maximum: int) -> int:
        """Read an integer option in 1..maximum, or raise CommandError saying what is allowed."""
        raw = options.get(name)
        if raw is None:
            return default
        try:
            value = int(str(raw).strip())
        except ValueError:
            value = 0
        if not 1 <= value <= maximum:
            raise CommandError(
                _("--%(name)s must be a whole number from 1 to %(maximum)s, not %(value)r.")
                % {"name": name.replace("_", "-"), "maximum": maximum, "value": raw}
            )
        return value

    @contextmanager
    def stop_on_sigterm(self):
        """While inside, SIGTERM sets ``stop_requested`` instead of killing the process, so a
        loop can finish its current batch and stop cleanly."""
        self.stop_requested = False
        if threading.current_thread() is not threading.main_thread():
            # Signal handlers can only be installed from the main thread (e.g. not in tests
            # that run the command in a worker thread); there, SIGTERM keeps its default.
            yield
            return

        def request_stop(signum, frame):
            self.stop_requested = True

        previous = signal.signal(signal.SIGTERM, request_stop)
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, previous)
