"""The webhook with automation rules active (issue 19), against the same webhook without rules.

    .venv/bin/python -m bench.automations --database-url URL [--rules 20] [--requests 400]
        [--http --rate 200 --duration 10] [--redis-url URL] [--port N] [--json]

Default (in-process): bench.webhook_load's database and message mix, each signed webhook POSTed
through Django's full stack (middleware, view, inbound statement, the after-commit receivers:
realtime, routing, service levels, automations) one after another in this process, with
production settings and the real Redis broker; wall time per request (p50, p99) and the
automations' own receiver time, without rules and with ``--rules`` per channel. ``--http``: the
open-loop gunicorn run of bench.webhook_load instead (needs an idle machine).

The rules are what an admin would write: keywords, patterns (time-boxed), button payloads,
message types, business hours and new-conversation conditions, each with one action. All of
them are checked on every message; one of them ("shipped", which every benchmark message says)
fires on every message and tags the conversation, so every request also pays for one firing
(the tag through the services, its event and the rule's event): the worst case, not the usual.

Targets: the webhook's own (issue 8): p50 <= 50 ms and p99 <= 250 ms at 200 requests/s.
"""

from __future__ import annotations

import argparse
import json
import os

from bench import webhook_load

NON_MATCHING = [
    {"text_contains": "refund, money back"},
    {"text_contains": "cancel"},
    {"text_pattern": r"\bcoupon\s+[a-z0-9]{4,}"},
    {"text_pattern": r"^(hi|hello|hey)\b"},
    {"button_payload": "TRACK_ORDER"},
    {"button_payload": "STOP_PROMOTIONS"},
    {"message_type": "image"},
    {"message_type": "audio"},
    {"text_contains": "invoice", "business_hours": "closed"},
    {"text_contains": "complaint", "business_hours": "open"},
    {"conversation_is": "new", "text_contains": "wholesale"},
    {"text_pattern": r"\b(urgent|asap|emergency)\b"},
    {"text_contains": "password, login"},
    {"text_contains": "address change"},
    {"text_pattern": r"\+?\d{2}\s?\d{3}\s?\d{7}"},
    {"message_type": "location"},
    {"text_contains": "bulk order"},
    {"text_contains": "gift card"},
    {"text_pattern": r"\bIBAN\b"},
]


def _rule_rows(rules: int) -> list[dict]:
    rows = [dict(r) for r in NON_MATCHING[: max(rules - 1, 0)]]
    while len(rows) < rules - 1:
        rows.append({"text_contains": f"never-said-{len(rows)}"})
    if rules:
        rows.append({"text_contains": "shipped"})  # fires on every benchmark message
    return rows


def seed_rules(database_url: str, rules: int) -> None:
    import psycopg

    columns = ("text_contains", "text_pattern", "button_payload", "message_type",
               "business_hours", "conversation_is")  # fmt: skip
    with psycopg.connect(webhook_load._dsn(database_url), autocommit=True) as conn:
        tag = conn.execute(
            "INSERT INTO conversations_tag (name, color) VALUES ('order-question', '#64748b') "
            "ON CONFLICT (name) DO UPDATE SET color = excluded.color RETURNING id"
        ).fetchone()[0]
        channels = [r[0] for r in conn.execute(
            "SELECT id FROM channels_app_channel WHERE phone_number_id LIKE 'benchwh%%'"
        )]  # fmt: skip
        for channel in channels:
            for position, rule in enumerate(_rule_rows(rules)):
                values = [rule.get(c, "") for c in columns]
                conn.execute(
                    "INSERT INTO automations_automationrule (channel_id, name, position, "
                    "is_active, stop_processing, text_contains, text_pattern, button_payload, "
                    "message_type, business_hours, conversation_is, add_tag_id, resolve, "
                    "template_params, created_at, updated_at) VALUES (%s, %s, %s, true, false, "
                    "%s, %s, %s, %s, %s, %s, %s, false, '', now(), now())",
                    [channel, f"bench rule {position}", position, *values,
                     tag if rule.get("text_contains") == "shipped" else None],
                )  # fmt: skip


def run(database_url: str, *, rules: int, redis_url: str | None = None, port: int | None = None,
        **kwargs) -> dict:  # fmt: skip
    original = webhook_load.seed
    if redis_url:  # the engineer's own Redis database on a shared machine
        webhook_load.REDIS_URL = redis_url
    if port:
        webhook_load._free_port = lambda: port

    def seed(url: str) -> None:
        import psycopg

        with psycopg.connect(webhook_load._dsn(url), autocommit=True) as conn:
            conn.execute("DELETE FROM automations_automationrule")
            # Columns added since bench.webhook_load's INSERTs were written, without a database
            # default: give them their model default in this benchmark database.
            conn.execute(
                "ALTER TABLE channels_app_channel ALTER COLUMN read_receipts SET DEFAULT 'on_open'"
            )
        original(url)
        seed_rules(url, rules)

    webhook_load.seed = seed
    try:
        return webhook_load.run(database_url, **kwargs)
    finally:
        webhook_load.seed = original


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def in_process(database_url: str, *, rules: list[int], requests: int, redis_url: str) -> dict:
    """Sequential signed webhooks through Django in this process, per rule count."""
    os.environ.update({
        **{k: v for k, v in webhook_load.server_env(database_url).items()
           if k not in os.environ or k in ("DATABASE_URL", "DEBUG", "SECRET_KEY",
                                           "WHATSAPP_APP_SECRET", "ALLOWED_HOSTS")},
        "REDIS_URL": redis_url, "DJANGO_SETTINGS_MODULE": "config.settings",
    })  # fmt: skip
    webhook_load.migrate(database_url)
    import django

    django.setup()
    import time as clock

    from django.test import Client

    from automations import engine

    receiver_ms: list[float] = []
    matched: list[int] = []
    original_run = engine.run

    def timed_run(*args, **kwargs):
        started = clock.perf_counter()
        try:
            result = original_run(*args, **kwargs)
            matched.append(result)
            return result
        finally:
            receiver_ms.append((clock.perf_counter() - started) * 1000)

    engine.run = timed_run
    results = {}
    for count in rules:
        receiver_ms.clear()
        matched.clear()
        with __import__("psycopg").connect(webhook_load._dsn(database_url), autocommit=True) as c:
            c.execute("DELETE FROM automations_automationrule")
            c.execute("ALTER TABLE channels_app_channel ALTER COLUMN read_receipts "
                      "SET DEFAULT 'on_open'")  # fmt: skip
        webhook_load.seed(database_url)
        seed_rules(database_url, count)
        senders = webhook_load._sender_channels(database_url)
        client = Client()
        tag = f"a{count}r{int(clock.time())}"
        msgs = webhook_load._messages(tag, requests + 20, senders, 7)
        times = []
        for i, m in enumerate(msgs):
            body = webhook_load._body(m)
            signature = "sha256=" + webhook_load.hmac.new(
                webhook_load.APP_SECRET.encode(), body, webhook_load.hashlib.sha256
            ).hexdigest()
            started = clock.perf_counter()
            response = client.post(webhook_load.PATH, data=body, content_type="application/json",
                                   HTTP_X_HUB_SIGNATURE_256=signature, HTTP_HOST="127.0.0.1")
            elapsed = (clock.perf_counter() - started) * 1000
            assert response.status_code == 200, response.content[:200]
            if i >= 20:  # the first 20 warm the process up
                times.append(elapsed)
        results[count] = {
            "requests": len(times),
            "p50_ms": round(_percentile(times, 0.50), 1),
            "p90_ms": round(_percentile(times, 0.90), 1),
            "p99_ms": round(_percentile(times, 0.99), 1),
            "receiver_p50_ms": round(_percentile(receiver_ms[20:], 0.50), 2),
            "receiver_p99_ms": round(_percentile(receiver_ms[20:], 0.99), 2),
            "rule_firings_enqueued": sum(matched),
            "p50_met": _percentile(times, 0.50) <= webhook_load.TARGET_P50_MS,
            "p99_met": _percentile(times, 0.99) <= webhook_load.TARGET_P99_MS,
        }
    engine.run = original_run
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--rules", type=int, default=20)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--redis-url", default=None, help="instead of bench.webhook_load's")
    parser.add_argument("--port", type=int, default=None, help="gunicorn's port (default: free)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--http", action="store_true", help="gunicorn, open loop at --rate")
    parser.add_argument("--requests", type=int, default=400, help="in-process requests per run")
    args = parser.parse_args(argv)
    url = args.database_url
    if not url:
        parser.error("--database-url (or DATABASE_URL) of a database whose name contains 'bench'")
    webhook_load._check_name(url)
    if not args.http:
        results = in_process(url, rules=[0, args.rules], requests=args.requests,
                             redis_url=args.redis_url or webhook_load.REDIS_URL)  # fmt: skip
        print(json.dumps(results, indent=None if args.json else 2, default=str))
        return 0
    results = {}
    for rules in (0, args.rules):
        results[rules] = run(url, rules=rules, rate=args.rate, duration=args.duration,
                             saturation_duration=max(args.duration / 2, 3), skip_floor=True,
                             redis_url=args.redis_url, port=args.port)
    if args.json:
        print(json.dumps(results, default=str))
    else:
        for rules, result in results.items():
            print(f"{rules} rules:", json.dumps(result, default=str)[:2000])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
