"""The batch workload's bodies (bench/batch.py) are what the webhook accepts and splits."""

import json

from bench import batch
from channels_app.whatsapp import webhooks


def test_the_3mb_batch_is_48_long_messages_under_the_webhook_limit(settings):
    body = batch.batch_body("t1", batch.LONG_MESSAGES, pad=batch.LONG_PAD)
    assert 3_000_000 < len(body) <= settings.WEBHOOK_MAX_BODY_BYTES
    events = webhooks.parse(body)
    assert len(events) == 48
    assert all(len(e.body) > batch.LONG_PAD for e in events)


def test_the_large_batch_has_fresh_ids_per_post_and_is_signed_like_meta_signs():
    first, second = batch.batch_body("a", 10_000), batch.batch_body("b", 10_000)
    ids = [m["id"] for m in json.loads(first)["entry"][0]["changes"][0]["value"]["messages"]]
    assert len(set(ids)) == 10_000
    assert not set(ids) & {
        m["id"] for m in json.loads(second)["entry"][0]["changes"][0]["value"]["messages"]
    }
    assert len({e.wa_id for e in webhooks.parse(first)}) == batch.CUSTOMERS
    assert webhooks.verify_signature(first, batch._signature(first), batch.APP_SECRET)
