"""Webhooks about a number's and an account's health, and customers' marketing choices, as Meta
documents them (issue 19): the emulator sends them on request through its control API
(``POST /_emulator/api/health``), so the desk's health panel and opt-outs can be tried by hand.

Fields: ``phone_number_quality_update`` (event FLAGGED/UNFLAGGED/DOWNGRADE/UPGRADE, current_limit),
``account_update`` (ACCOUNT_RESTRICTION with restriction_info, DISABLED_UPDATE, ...),
``message_template_status_update`` (PAUSED/DISABLED/REINSTATED of a template by id),
``message_template_quality_update`` (new_quality_score) and ``user_preferences`` (a customer's
"stop" or "resume" of marketing). ``value`` overrides any field of the default body.
"""

from __future__ import annotations

DEFAULTS = {
    "phone_number_quality_update": {"event": "FLAGGED", "current_limit": "TIER_1K"},
    "account_update": {
        "event": "ACCOUNT_RESTRICTION",
        "restriction_info": [
            {"restriction_type": "RESTRICTED_BIZ_INITIATED_MESSAGING", "expiration": 0}
        ],
    },
    "message_template_status_update": {"event": "PAUSED", "reason": "NONE"},
    "message_template_quality_update": {
        "previous_quality_score": "GREEN",
        "new_quality_score": "RED",
    },
}
FIELDS = (*DEFAULTS, "user_preferences")


class HealthOut:
    """A part of ``Emulator`` (server.py), as the module docstring says."""

    def send_health(self, phone_number_id: str, field: str, value: dict | None = None) -> dict:
        """Deliver one health or preference webhook for this number; returns the body sent."""
        if field not in FIELDS:
            raise ValueError(f"unknown field {field!r}; one of {', '.join(FIELDS)}")
        number = self.numbers[phone_number_id]
        value = dict(value or {})
        if field == "user_preferences":
            wa_id = str(value.pop("wa_id", ""))
            choice = str(value.pop("value", "stop"))
            body = {
                "contacts": [{"profile": {"name": ""}, "wa_id": wa_id}],
                "user_preferences": [{
                    "wa_id": wa_id,
                    "detail": "User requested to stop marketing messages" if choice == "stop"
                    else "User requested to resume marketing messages",
                    "category": "marketing_messages",
                    "value": choice,
                    "timestamp": int(self.now()),
                }],
            }  # fmt: skip
            payload = self._envelope(number, body)
        else:
            body = {**DEFAULTS[field], **value}
            if field == "phone_number_quality_update":
                body.setdefault("display_phone_number", number.digits)
            elif field == "account_update":
                body.setdefault("phone_number", number.digits)
                for item in body.get("restriction_info") or []:
                    if isinstance(item, dict) and not item.get("expiration"):
                        item["expiration"] = int(self.now()) + 7 * 86400
            elif field.startswith("message_template_"):
                template = self._template_for(number, str(body.get("message_template_name", "")))
                if template is not None:
                    body.setdefault("message_template_id", int(template["id"]))
                    body.setdefault("message_template_name", template["name"])
                    body.setdefault("message_template_language", template["language"])
            payload = self._envelope(number, body, field_name=field)
        self.deliver_webhook(payload)
        return payload

    def _template_for(self, number, name: str) -> dict | None:
        with self._lock:
            templates = list(self.templates.get(number.waba_id, {}).values())
        for template in templates:
            if isinstance(template, dict) and (not name or template.get("name") == name):
                return template
        return None

    def revoke_token(self, token: str) -> bool:
        """From now on, calls with this token answer 401 with code 190 (a revoked token)."""
        with self._lock:
            if token in self.tokens:
                self.tokens.discard(token)
                return True
        return False
