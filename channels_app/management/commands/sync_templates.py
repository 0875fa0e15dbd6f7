"""Pull message templates and their review status from the WhatsApp API."""

from django.core.management.base import BaseCommand, CommandError

from channels_app import template_services
from channels_app.models import Channel
from channels_app.whatsapp.client import WhatsAppClient
from channels_app.whatsapp.errors import WhatsAppError


class Command(BaseCommand):
    help = "Sync message templates from the WhatsApp API (all active channels, or --channel ID)."

    def add_arguments(self, parser):
        parser.add_argument("--channel", type=int, help="only this channel (database id)")
        parser.add_argument(
            "--dry-run", action="store_true", help="fetch and count, but write nothing"
        )

    def handle(self, *args, **options):
        if options["channel"] is None and not options["dry_run"]:
            result = template_services.sync_all_templates()
            self._summary(result.as_dict())
            if result.failed_channels:
                raise CommandError(f"{result.failed_channels} channel(s) failed; see the log")
            return
        channels = Channel.objects.filter(kind=Channel.Kind.WHATSAPP, is_active=True)
        if options["channel"] is not None:
            channels = channels.filter(pk=options["channel"])
            if not channels.exists():
                raise CommandError(f"no active WhatsApp channel with id {options['channel']}")
        for channel in channels:
            try:
                if options["dry_run"]:
                    remote = WhatsAppClient.for_channel(channel).list_templates(channel.waba_id)
                    self.stdout.write(f"{channel}: {len(remote)} template(s) at WhatsApp")
                    continue
                result = template_services.sync_templates(channel)
            except WhatsAppError as error:
                raise CommandError(f"{channel}: {error.user_message}") from error
            self.stdout.write(f"{channel}: ", ending="")
            self._summary(result.as_dict())

    def _summary(self, counts: dict) -> None:
        self.stdout.write(
            self.style.SUCCESS(
                "{created} new, {updated} changed, {deleted} removed".format(**counts)
            )
        )
