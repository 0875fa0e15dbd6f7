"""Parsers of the webhook fields about a number's and an account's health, and the customers'
marketing preferences (issue 19): ``phone_number_quality_update``, ``account_update``,
``message_template_quality_update`` and ``user_preferences``. Called by
``webhooks._parse_change``; shapes after Meta's documentation (docs/channel-health.md,
tests/fixtures/whatsapp/health/)."""

from __future__ import annotations

from channels_app.whatsapp.webhook_events import (
    MAX_WA_ID,
    WA_ID_RE,
    AccountUpdate,
    MalformedPayload,
    MarketingPreference,
    NumberQualityUpdate,
    TemplateQualityUpdate,
    check_storable,
    id_at,
    list_at,
    object_at,
    optional_timestamp,
    text_at,
)

FIELDS = (
    "phone_number_quality_update",
    "account_update",
    "message_template_quality_update",
    "user_preferences",
)


def parse(name: str, value: dict, waba_id: str, where: str) -> list:
    check_storable(value, where)
    if name == "phone_number_quality_update":
        return [NumberQualityUpdate(
            waba_id=waba_id,
            display_phone_number=text_at(value.get("display_phone_number"),
                                         f"{where}.display_phone_number", 32),
            event=text_at(value.get("event"), f"{where}.event", 32, required=True),
            current_limit=_limit(value.get("current_limit")
                                 or value.get("max_daily_conversations_per_business")),
            old_limit=_limit(value.get("old_limit")),
        )]  # fmt: skip
    if name == "account_update":
        return [AccountUpdate(
            waba_id=waba_id,
            event=text_at(value.get("event"), f"{where}.event", 40, required=True),
            value=value,
        )]  # fmt: skip
    if name == "message_template_quality_update":
        template_id = value.get("message_template_id")
        if isinstance(template_id, bool) or not isinstance(template_id, int | str):
            raise MalformedPayload(f"{where}.message_template_id is missing")
        return [TemplateQualityUpdate(
            waba_id=waba_id,
            template_id=id_at(str(template_id), f"{where}.message_template_id"),
            name=text_at(value.get("message_template_name"), f"{where}.name", 512),
            language=text_at(value.get("message_template_language"), f"{where}.language", 16),
            new_score=text_at(value.get("new_quality_score"), f"{where}.new_quality_score", 16,
                              required=True),
            previous_score=text_at(value.get("previous_quality_score"),
                                   f"{where}.previous_quality_score", 16),
        )]  # fmt: skip
    return _preferences(value, where)


def _limit(value) -> str:
    if value is None or isinstance(value, bool):
        return ""
    return str(value)[:32]


def _preferences(value: dict, where: str) -> list:
    metadata = object_at(value.get("metadata"), f"{where}.metadata")
    pnid = id_at(metadata.get("phone_number_id"), f"{where}.metadata.phone_number_id")
    events = []
    for k, item in enumerate(list_at(value, "user_preferences", where)):
        at = f"{where}.user_preferences[{k}]"
        item = object_at(item, at)
        wa_id = item.get("wa_id")
        if not isinstance(wa_id, str) or not WA_ID_RE.match(wa_id) or len(wa_id) > MAX_WA_ID:
            raise MalformedPayload(f"{at}.wa_id is not a WhatsApp ID (digits)")
        category = text_at(item.get("category"), f"{at}.category", 64)
        if category and category != "marketing_messages":
            continue
        events.append(MarketingPreference(
            phone_number_id=pnid,
            wa_id=wa_id,
            value=text_at(item.get("value"), f"{at}.value", 16, required=True).lower(),
            detail=text_at(item.get("detail"), f"{at}.detail", 255),
            timestamp=optional_timestamp(item.get("timestamp")),
        ))  # fmt: skip
    return events
