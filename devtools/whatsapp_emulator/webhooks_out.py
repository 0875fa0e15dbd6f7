"""Webhooks out: signed POSTs to the desk, retried with backoff, and the statuses of every
send (sent, delivered, read or failed), in order or shuffled by the switches."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import threading

import httpx

from devtools.whatsapp_emulator.graph import (
    ASYNC_DETAILS,
    ERROR_TITLES,
    STATUS_RANK,
)
from devtools.whatsapp_emulator.state import Number

logger = logging.getLogger(__name__)


class WebhooksOut:
    """A part of ``Emulator`` (server.py), as the module docstring says."""

    def deliver_webhook(self, payload: dict, *, delay: float = 0.0) -> None:
        """Queue a signed POST of ``payload`` to the app, retried with backoff on non-2xx."""
        copies = max(2 if self.duplicate_webhooks else 1, self.webhook_copies)
        for _ in range(copies):
            jitter = secrets.randbelow(1001) / 1000 * self.webhook_jitter
            self._schedule(delay + jitter, lambda: self._start_post(payload, attempt=0))

    def _start_post(self, payload: dict, *, attempt: int) -> None:
        if not self.concurrent_webhooks:
            self._post_webhook(payload, attempt=attempt)
            return
        # Counted as delivering before the thread starts, so idle() cannot miss it.
        with self._lock:
            self._delivering += 1

        def post() -> None:
            try:
                self._post_webhook(payload, attempt=attempt)
            finally:
                with self._lock:
                    self._delivering -= 1

        threading.Thread(target=post, daemon=True, name="wa-emulator-webhook").start()

    def _post_webhook(self, payload: dict, *, attempt: int) -> None:
        # Meta signs an ASCII-escaped serialisation; sign exactly the bytes that are sent.
        body = json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode()
        signature = (
            "sha256=" + hmac.new(self.config.app_secret.encode(), body, hashlib.sha256).hexdigest()
        )
        with self._lock:
            if self._bad_signature_next > 0:
                self._bad_signature_next -= 1
                signature = "sha256=" + "0" * 64
            self._delivering += 1
        status = None
        try:
            response = httpx.post(
                self.config.webhook_url,
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "X-Hub-Signature-256": signature,
                    "User-Agent": "facebookexternalua",
                },
                timeout=10,
            )
            status = response.status_code
        except httpx.HTTPError as exc:
            logger.info("webhook delivery failed: %s", type(exc).__name__)
        finally:
            with self._lock:
                self._delivering -= 1
                self.webhooks_delivered.append(
                    {"payload": payload, "status": status, "attempt": attempt}
                )
        if status is not None and 200 <= status < 300:
            return
        delays = self.config.webhook_retry_delays
        if attempt < len(delays):
            self._schedule(delays[attempt], lambda: self._start_post(payload, attempt=attempt + 1))
        else:
            with self._lock:
                self.webhooks_dropped += 1
            logger.warning("webhook dropped after %s attempts", attempt + 1)

    def _envelope(self, number: Number, value: dict, *, field_name: str = "messages") -> dict:
        if field_name == "messages":
            value = {
                "messaging_product": "whatsapp",
                "metadata": {
                    "display_phone_number": number.digits,
                    "phone_number_id": number.phone_number_id,
                },
                **value,
            }
        entry: dict = {"id": number.waba_id, "changes": [{"field": field_name, "value": value}]}
        if field_name != "messages":
            entry["time"] = int(self.now())
        return {"object": "whatsapp_business_account", "entry": [entry]}

    def _status_payload(self, sent: dict, status: str, error: tuple[int, str] | None) -> dict:
        number = self.numbers[sent["phone_number_id"]]
        item: dict = {
            "id": sent["wamid"],
            "status": status,
            "timestamp": str(int(self.now())),
            "recipient_id": sent["to"],
        }
        if sent.get("callback_data"):
            item["biz_opaque_callback_data"] = sent["callback_data"]
        if error:
            code, details = error
            item["errors"] = [
                {
                    "code": code,
                    "title": ERROR_TITLES.get(code, "Error"),
                    "message": ERROR_TITLES.get(code, "Error"),
                    "error_data": {"details": details or ASYNC_DETAILS.get(code, "")},
                    "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
                }
            ]
        else:
            item["pricing"] = {
                "billable": sent["type"] == "template",
                "pricing_model": "PMP",
                "type": "regular" if sent["type"] == "template" else "free_customer_service",
                "category": "utility" if sent["type"] == "template" else "service",
            }
        return self._envelope(number, {"statuses": [item]})

    def _emit_statuses(self, sent: dict, error: tuple[int, str] | None) -> None:
        steps: list[tuple[str, tuple[int, str] | None]]
        if error:
            steps = [("failed", error)]
        else:
            steps = [("sent", None), ("delivered", None)]
            if self.config.auto_read:
                steps.append(("read", None))
        if self.reorder_statuses:
            steps.reverse()
        for i, (status, err) in enumerate(steps, start=1):

            def job(status=status, err=err):
                # What the phone page shows: the furthest state reached, like the real app.
                if STATUS_RANK.get(status, 0) > STATUS_RANK.get(sent["status"], 0):
                    sent["status"] = status
                    if err:
                        sent["error"] = f"{ERROR_TITLES.get(err[0], 'Error')} ({err[0]})"
                self.deliver_webhook(self._status_payload(sent, status, err))

            self._schedule(self.config.status_delay * i, job)
