"""The webhook with automation rules active (issue 19): bench.webhook_load's gunicorn run, with
``--rules`` active rules on each of its channels, against the same run without rules.

    .venv/bin/python -m bench.automations [--rules 20] [--rate 200] [--duration 10] [--json]

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


def run(database_url: str, *, rules: int, **kwargs) -> dict:
    original = webhook_load.seed

    def seed(url: str) -> None:
        import psycopg

        with psycopg.connect(webhook_load._dsn(url), autocommit=True) as conn:
            conn.execute("DELETE FROM automations_automationrule")
        original(url)
        seed_rules(url, rules)

    webhook_load.seed = seed
    try:
        return webhook_load.run(database_url, **kwargs)
    finally:
        webhook_load.seed = original


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--rules", type=int, default=20)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    url = args.database_url
    if not url:
        parser.error("--database-url (or DATABASE_URL) of a database whose name contains 'bench'")
    results = {}
    for rules in (0, args.rules):
        results[rules] = run(url, rules=rules, rate=args.rate, duration=args.duration,
                             saturation_duration=max(args.duration / 2, 3), skip_floor=True)
    if args.json:
        print(json.dumps(results, default=str))
    else:
        for rules, result in results.items():
            print(f"{rules} rules:", json.dumps(result, default=str)[:2000])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
