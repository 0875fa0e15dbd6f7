"""Run the local WhatsApp Cloud API emulator, or inject a customer message into a running one.

A development tool (the devtools app): ``--seed-from-db`` reads the desk's conversations
(devtools.emulator_history); the emulator itself (devtools.whatsapp_emulator) knows no Django.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from channels_app.models import Channel, MessageTemplate
from devtools import emulator_history
from devtools.whatsapp_emulator import Emulator, EmulatorConfig

# seed_demo's channels, so that `make run` works without --seed-from-db as well.
DEMO_NUMBERS = [
    {
        "phone_number_id": "109876543210987",
        "waba_id": "104455667788990",
        "display_phone_number": "+1 555-010-0234",
        "verified_name": "Acme Outdoor Supply",
        "token": "demo-access-token",
    },
    {
        "phone_number_id": "109876543210988",
        "waba_id": "104455667788990",
        "display_phone_number": "+1 555-010-0235",
        "verified_name": "Acme Outdoor Supply",
        "token": "demo-access-token",
    },
]


class Command(BaseCommand):
    help = (
        "Serve the WhatsApp Cloud API emulator (default), or `inject` a customer message into a "
        "running emulator. The customer phone page is at <emulator>/_emulator/phone."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", nargs="?", default="serve", choices=["serve", "inject"])
        parser.add_argument("--host", help="listen address (default: from WHATSAPP_GRAPH_URL)")
        parser.add_argument("--port", type=int, help="port (default: from WHATSAPP_GRAPH_URL)")
        parser.add_argument(
            "--seed-from-db",
            action="store_true",
            help=(
                "register every WhatsApp channel (and its approved templates) from the database, "
                "and learn its recent conversations: the customers' last message times (the "
                "24-hour window, as the desk computes it) and their messages for the phone page"
            ),
        )
        parser.add_argument("--config", help="JSON file: {numbers: [...], templates: [...]}")
        parser.add_argument("--webhook-url", help="default: WHATSAPP_EMULATOR_WEBHOOK_URL")
        parser.add_argument("--status-delay", type=float, default=0.8)
        parser.add_argument("--template-approval-delay", type=float, default=10.0)
        parser.add_argument(
            "--webhook-retry-delays",
            help="comma-separated seconds between webhook retries (default: 1,2,4,8,16,32,64)",
        )
        parser.add_argument(
            "--expose-codes",
            action="store_true",
            help="test only: serve the last verification code at /_emulator/api/last-code",
        )
        inject = parser.add_argument_group("inject")
        inject.add_argument("--phone-number-id", default=DEMO_NUMBERS[0]["phone_number_id"])
        inject.add_argument("--from", dest="wa_id", default="15555550123")
        inject.add_argument("--name", default="Dana Reyes")
        inject.add_argument("--type", default="text")
        inject.add_argument("--text", default="")
        inject.add_argument("--url", help="running emulator (default: from WHATSAPP_GRAPH_URL)")

    def handle(self, *args, **options):
        graph = urlsplit(settings.WHATSAPP_GRAPH_URL)
        if options["action"] == "inject":
            return self._inject(options, options["url"] or f"{graph.scheme}://{graph.netloc}")
        host = options["host"] or graph.hostname or "127.0.0.1"
        port = options["port"] or graph.port or 8025
        numbers, templates = self._seed(options)
        retry: dict = {}
        if options["webhook_retry_delays"]:
            try:
                delays = tuple(float(d) for d in options["webhook_retry_delays"].split(","))
            except ValueError as exc:
                raise CommandError("--webhook-retry-delays: numbers separated by commas") from exc
            retry["webhook_retry_delays"] = delays
        config = EmulatorConfig(
            app_secret=settings.WHATSAPP_APP_SECRET,
            webhook_url=options["webhook_url"] or settings.WHATSAPP_EMULATOR_WEBHOOK_URL,
            verify_token=settings.WHATSAPP_VERIFY_TOKEN,
            numbers=numbers,
            status_delay=options["status_delay"],
            template_approval_delay=options["template_approval_delay"],
            expose_codes=options["expose_codes"],
            **retry,
        )
        emulator = Emulator(config)
        for template in templates:
            emulator.add_template(**template)
        chats = 0
        if options["seed_from_db"]:
            chats = emulator_history.teach(emulator, now=timezone.now())
        try:
            emulator.start(host, port)
        except OSError as exc:
            raise CommandError(f"cannot listen on {host}:{port}: {exc}") from exc

        def stop(signum, frame):
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        self.stdout.write(
            f"WhatsApp emulator on {emulator.base_url} ({len(numbers)} numbers, "
            f"{chats} chats learned), "
            f"webhooks to {config.webhook_url}\n"
            f"  customer phone: {emulator.base_url}/_emulator/phone"
        )
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
        finally:
            emulator.stop()
            self.stdout.write("emulator stopped")

    def _seed(self, options) -> tuple[list[dict], list[dict]]:
        numbers = {n["phone_number_id"]: n for n in DEMO_NUMBERS}
        templates: list[dict] = []
        if options["config"]:
            try:
                data = json.loads(Path(options["config"]).read_text())
                numbers.update({str(n["phone_number_id"]): n for n in data.get("numbers", [])})
                templates.extend(data.get("templates", []))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise CommandError(f"cannot read --config: {exc}") from exc
        if options["seed_from_db"]:
            for channel in Channel.objects.filter(kind=Channel.Kind.WHATSAPP).exclude(
                phone_number_id=None
            ):
                numbers[channel.phone_number_id] = {
                    "phone_number_id": channel.phone_number_id,
                    "waba_id": channel.waba_id or "0",
                    "display_phone_number": channel.display_phone_number,
                    "verified_name": channel.verified_name,
                    "token": channel.access_token,
                }
            sendable = MessageTemplate.objects.filter(
                status__in=MessageTemplate.SENDABLE
            ).select_related("channel")
            templates.extend(
                {
                    "waba_id": t.channel.waba_id,
                    "name": t.name,
                    "language": t.language,
                    "category": t.category,
                    "components": t.components,
                }
                for t in sendable
            )
        return list(numbers.values()), templates

    def _inject(self, options, base_url: str) -> None:
        if not options["text"] and options["type"] == "text":
            raise CommandError("--text is required for a text message")
        try:
            response = httpx.post(
                f"{base_url}/_emulator/api/inject",
                json={
                    "phone_number_id": options["phone_number_id"],
                    "from": options["wa_id"],
                    "name": options["name"],
                    "type": options["type"],
                    "text": options["text"],
                },
                timeout=10,
            )
        except httpx.HTTPError as exc:
            raise CommandError(f"emulator not reachable at {base_url}: {exc}") from exc
        if response.status_code != 200:
            raise CommandError(f"emulator refused: {response.text}")
        self.stdout.write(f"injected {response.json()['id']}")
