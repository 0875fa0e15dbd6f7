"""The emulator's own control API under ``/_emulator`` (inject, clock, forced failures,
switches, template decisions) and, through ``phone``, the customer phone page."""

from __future__ import annotations

import json

from devtools.whatsapp_emulator import phone
from devtools.whatsapp_emulator.graph import (
    GraphError,
)


class Control:
    """A part of ``Emulator`` (server.py), as the module docstring says."""

    # --- control API and the customer phone --------------------------------------------------
    def _handle_control(self, method, path, query, headers, body) -> tuple[int, str, bytes]:
        def ok(data) -> tuple[int, str, bytes]:
            return 200, "application/json", json.dumps(data).encode()

        if path.startswith("/_emulator/media/") and method == "GET":
            return self._download(query, headers, path.rsplit("/", 1)[-1])
        page = phone.handle(self, method, path, query, body)
        if page is not None:
            return page
        if path == "/_emulator/api/numbers" and method == "GET":
            return ok(
                [
                    {
                        "phone_number_id": n.phone_number_id,
                        "display": n.display_phone_number,
                        "name": n.verified_name,
                        "registered": n.registered,
                    }
                    for n in self.numbers.values()
                ]
            )
        if path == "/_emulator/api/stats" and method == "GET":
            return ok(self.stats())
        if path == "/_emulator/api/sent" and method == "GET":
            return ok([{k: v for k, v in s.items() if k != "request"} for s in self.sends()])
        if path == "/_emulator/api/last-code" and method == "GET":
            try:
                return ok({"code": self.last_code(query.get("phone_number_id", ""))})
            except PermissionError as exc:
                raise GraphError(10, str(exc), http=403) from exc
        if method != "POST":
            raise GraphError(100, "Unknown emulator path", http=404)
        data = self._json(body)
        if path == "/_emulator/api/inject":
            wamid = self.inject(
                str(data.get("phone_number_id", "")),
                wa_id=str(data.get("from", "")),
                name=str(data.get("name", "")),
                type=str(data.get("type", "text")),
                text=str(data.get("text", "")),
                reply_to=str(data.get("reply_to", "")),
                # The type's object as Meta sends it (location, contacts, reaction, an
                # interactive or button answer): {"<type>": {...}}.
                message=data["message"] if isinstance(data.get("message"), dict) else None,
            )
            return ok({"id": wamid})
        if path == "/_emulator/api/media-errors":
            self.media_errors(int(data.get("status", 503)), int(data.get("count", 1)))
            return ok({"success": True})
        if path == "/_emulator/api/clock":
            self.advance_clock(float(data.get("advance", 0)))
            return ok({"now": self.now()})
        if path == "/_emulator/api/fail-next":
            self.fail_next_send(
                int(data["code"]), mode=data.get("mode", "sync"), count=int(data.get("count", 1))
            )
            return ok({"success": True})
        if path == "/_emulator/api/http-errors":
            if "seconds" in data:
                statuses = data.get("statuses") or [data.get("status", 500)]
                self.http_errors_for(float(data["seconds"]), tuple(int(s) for s in statuses))
            else:
                self.http_errors(int(data["status"]), int(data.get("count", 1)))
            return ok({"success": True})
        if path == "/_emulator/api/switches":
            self.duplicate_webhooks = bool(data.get("duplicate_webhooks", self.duplicate_webhooks))
            self.reorder_statuses = bool(data.get("reorder_statuses", self.reorder_statuses))
            if data.get("bad_signature_next"):
                self.bad_signature_next(int(data["bad_signature_next"]))
            if data.get("reset"):
                self.reset_switches()
            with self._lock:
                self.webhook_copies = max(1, int(data.get("webhook_copies", self.webhook_copies)))
                self.webhook_jitter = float(data.get("webhook_jitter", self.webhook_jitter))
                self.concurrent_webhooks = bool(
                    data.get("concurrent_webhooks", self.concurrent_webhooks)
                )
                self.send_delay = float(data.get("send_delay", self.send_delay))
            return ok(
                {
                    "duplicate_webhooks": self.duplicate_webhooks,
                    "reorder_statuses": self.reorder_statuses,
                    "webhook_copies": self.webhook_copies,
                    "webhook_jitter": self.webhook_jitter,
                    "concurrent_webhooks": self.concurrent_webhooks,
                    "send_delay": self.send_delay,
                }
            )
        if path == "/_emulator/api/health":
            # A health or marketing-preference webhook (health_out.py), e.g.
            # {"phone_number_id": "...", "field": "phone_number_quality_update"}.
            try:
                sent = self.send_health(
                    str(data.get("phone_number_id", "")),
                    str(data.get("field", "")),
                    data.get("value") if isinstance(data.get("value"), dict) else None,
                )
            except (KeyError, ValueError) as exc:
                raise GraphError(100, f"Cannot send that health webhook: {exc}") from exc
            return ok(sent)
        if path == "/_emulator/api/revoke-token":
            return ok({"revoked": self.revoke_token(str(data.get("token", "")))})
        if path == "/_emulator/api/templates/decide":
            self.decide_template(
                str(data["id"]), str(data["status"]), reason=str(data.get("reason", "NONE"))
            )
            return ok({"success": True})
        raise GraphError(100, "Unknown emulator path", http=404)
