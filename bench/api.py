"""The messaging API's send path, the outgoing webhooks and the audit log's cost (issue 19).

    DATABASE_URL=postgres://desk:desk@127.0.0.1:5432/desk_api_bench \\
        .venv/bin/python -m bench.api [--sends N] [--json]

On a migrated database whose name contains "bench" (its desk tables are emptied first):

- **send**: N ``POST /api/v1/messages/template`` through Django's test client (middleware, token,
  scope, rate-limit row lock, contact + Pending conversation + message, dispatch queued on a
  memory broker), each to a new number, spread over 5 channels; p50 / p95 wall time and SQL
  statements per send. Then the same N with an ``Idempotency-Key`` each, and their repeats
  (answered from the store).
- **audit**: ``services.update_channel_settings`` N times with the audit receivers connected
  and N times without them: p50 each and the statements added (the stored row read once, the
  audit row written).
- **webhooks**: N events written to the outbox and delivered to a local HTTP server
  (127.0.0.1, a port of 8350-8399) by ``deliver_due`` batches: deliveries per second.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def _ms(values: list[float]) -> dict:
    ordered = sorted(values)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 2),
    }


class _Sink(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def _sink() -> ThreadingHTTPServer:
    for port in range(8350, 8400):
        try:
            server = ThreadingHTTPServer(("127.0.0.1", port), _Sink)
        except OSError:
            continue
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server
    raise SystemExit("no free port in 8350-8399")


def run(sends: int) -> dict:
    from django.conf import settings
    from django.db import connection
    from django.db.models import signals
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from api import tokens, webhooks
    from api.models import WebhookSubscription
    from audit import registry
    from channels_app import services as channel_services
    from channels_app.models import Channel, MessageTemplate
    from config.celery import app as celery_app

    if "bench" not in connection.settings_dict["NAME"]:
        raise SystemExit("the database name must contain 'bench' (its tables are emptied)")
    celery_app.conf.broker_url = "memory://"
    settings.API_SENDS_PER_MINUTE = sends * 10
    settings.API_WEBHOOK_REQUIRE_HTTPS = False
    settings.API_WEBHOOK_ALLOW_PRIVATE = True
    settings.ALLOWED_HOSTS = ["testserver"]
    settings.SECURE_SSL_REDIRECT = False
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE channels_app_channel, conversations_contact, api_apitoken, "
            "audit_auditentry RESTART IDENTITY CASCADE"
        )
    channels = []
    for n in range(5):
        channel = Channel(display_name=f"API bench {n}", phone_number_id=f"api-bench-{n}")
        channel_services.create_channel(channel, actor=None)
        MessageTemplate.objects.create(
            channel=channel, name="order_update", language="en_US", status="APPROVED",
            components=[{"type": "BODY", "text": "Hi {{1}}, order {{2}}."}],
        )  # fmt: skip
        channels.append(channel)
    _token, raw = tokens.create_token(name="bench", channels=channels, actor=None)
    client = Client(headers={"Authorization": f"Bearer {raw}"})

    def post(n: int, key: str | None = None):
        body = {"channel_id": channels[n % 5].pk, "to": f"+49151{n:08d}",
                "template": "order_update", "params": ["Ada", str(n)]}  # fmt: skip
        headers = {"Idempotency-Key": key} if key else {}
        return client.post("/api/v1/messages/template", body, content_type="application/json",
                           headers=headers)  # fmt: skip

    post(10**7)  # warm-up
    with CaptureQueriesContext(connection) as queries:
        post(10**7 + 1)
    statements = len(queries)
    plain = []
    for n in range(sends):
        start = time.perf_counter()
        response = post(n)
        plain.append(time.perf_counter() - start)
        assert response.status_code == 201, response.content
    keyed, replayed = [], []
    for n in range(sends):
        start = time.perf_counter()
        assert post(sends + n, key=f"k{n}").status_code == 201
        keyed.append(time.perf_counter() - start)
    for n in range(sends):
        start = time.perf_counter()
        assert post(sends + n, key=f"k{n}").status_code == 200
        replayed.append(time.perf_counter() - start)

    # --- the audit log's cost on a configuration write ---
    channel = channels[0]

    def settings_writes(label: str) -> tuple[list[float], int]:
        times = []
        for n in range(sends):
            start = time.perf_counter()
            channel_services.update_channel_settings(
                channel, actor=None, display_name=f"{label} {n}"
            )
            times.append(time.perf_counter() - start)
        with CaptureQueriesContext(connection) as captured:
            channel_services.update_channel_settings(channel, actor=None, display_name=label)
        return times, len(captured)

    audited, audited_statements = settings_writes("audited")
    receivers = [signals.pre_save, signals.post_save]
    for signal in receivers:
        signal.disconnect(sender=Channel, dispatch_uid="audit-channels_app.Channel")
    try:
        bare, bare_statements = settings_writes("bare")
    finally:
        signals.pre_save.connect(registry._pre_save, sender=Channel,
                                 dispatch_uid="audit-channels_app.Channel")  # fmt: skip
        signals.post_save.connect(registry._post_save, sender=Channel,
                                  dispatch_uid="audit-channels_app.Channel")  # fmt: skip

    # --- webhook deliveries ---
    server = _sink()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    webhooks.subscribe(_token, url=url, events=[])
    webhooks.enqueue([(channels[n % 5].pk, "conversation.resolved", {"n": n})
                      for n in range(sends)])  # fmt: skip
    start = time.perf_counter()
    delivered = 0
    while True:
        counts = webhooks.deliver_due()
        delivered += counts["delivered"]
        if not sum(counts.values()):
            break
    elapsed = time.perf_counter() - start
    server.shutdown()
    WebhookSubscription.objects.all().delete()

    return {
        "sends": sends,
        "send": {**_ms(plain), "statements": statements},
        "send_with_key": _ms(keyed),
        "replay": _ms(replayed),
        "channel_save_audited": {**_ms(audited), "statements": audited_statements},
        "channel_save_unaudited": {**_ms(bare), "statements": bare_statements},
        "webhooks": {"delivered": delivered, "per_second": round(delivered / elapsed, 1)},
        "load": os.getloadavg()[0],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sends", type=int, default=300)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    _setup_django()
    result = run(args.sends)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:24} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
