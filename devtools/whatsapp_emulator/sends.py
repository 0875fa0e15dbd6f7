"""POST /<phone_number_id>/messages: validation, the 24-hour window, throughput, forced
failures, and the record of every send."""

from __future__ import annotations

import re
import time
from collections import deque

from channels_app.whatsapp import window
from devtools.whatsapp_emulator.graph import (
    ASYNC_DETAILS,
    MEDIA_LIMITS,
    PLACEHOLDER_RE,
    SEND_TYPES,
    GraphError,
    new_wamid,
)
from devtools.whatsapp_emulator.state import Number

# Meta: "typing…" shows until our next message or for about 25 seconds (unconfirmed).
TYPING_SECONDS = 25


class Sends:
    """A part of ``Emulator`` (server.py), as the module docstring says."""

    # --- messages ------------------------------------------------------------------------------
    def _messages(self, pnid: str, data: dict) -> dict:
        if self.send_delay:
            time.sleep(self.send_delay)  # outside the lock: other requests go on meanwhile
        with self._lock:
            if self._http_errors:
                status = self._http_errors.popleft()
                code = 130429 if status == 429 else 131000
                raise GraphError(code, "Injected failure", http=status)
            if time.monotonic() < self._http_errors_until:
                cycle = self._http_errors_cycle
                status = cycle[self._http_errors_served % len(cycle)]
                self._http_errors_served += 1
                code = 130429 if status == 429 else 131000
                raise GraphError(code, "Injected outage", http=status)
            number = self._number(pnid)
            if not number.registered:
                raise GraphError(133010, "Phone number is not registered on the Cloud API")
            if data.get("messaging_product") != "whatsapp":
                raise GraphError(100, "messaging_product must be whatsapp")
            if data.get("status") == "read":
                return self._mark_read(pnid, data)
            recent = self._recent_sends.setdefault(pnid, deque())
            now_mono = time.monotonic()
            while recent and recent[0] < now_mono - 1:
                recent.popleft()
            if len(recent) >= self.config.throughput_mps:
                raise GraphError(130429, "Message throughput limit reached for this number.")
            recent.append(now_mono)
            to_raw = data.get("to")
            to = re.sub(r"[\s+\-()]", "", to_raw) if isinstance(to_raw, str) else ""
            if not re.fullmatch(r"\d{7,15}", to):
                raise GraphError(131009, "to must be a phone number of 7 to 15 digits")
            kind = data.get("type", "text")
            if kind not in SEND_TYPES:
                raise GraphError(131009, f"type {kind!r} is not supported")
            if not isinstance(data.get(kind), dict) and kind != "contacts":
                raise GraphError(131008, f"{kind} object is required")
            text = self._validate_send(number, kind, data)
            callback = data.get("biz_opaque_callback_data")
            if callback is not None and (not isinstance(callback, str) or len(callback) > 512):
                raise GraphError(131009, "biz_opaque_callback_data must be text of at most 512")
            forced = self._fail_next.popleft() if self._fail_next else None
            if forced and forced[1] == "sync":
                raise GraphError(forced[0], "Injected failure")
            error: tuple[int, str] | None = (forced[0], "Injected failure") if forced else None
            last_in = window.from_timestamp(self.last_inbound.get((pnid, to)))
            if (
                error is None
                and kind != "template"
                and not window.is_open(last_in, window.from_timestamp(self.now()))
            ):
                if self.config.window_error_sync:
                    raise GraphError(131047, ASYNC_DETAILS[131047])
                error = (131047, ASYNC_DETAILS[131047])
            if error is None and to in self.config.undeliverable_numbers:
                error = (131026, ASYNC_DETAILS[131026])
            sent = {
                "direction": "out",
                "wamid": new_wamid(),
                "phone_number_id": pnid,
                "to": to,
                "type": kind,
                "text": text,
                "callback_data": callback or "",
                "context": (data.get("context") or {}).get("message_id", ""),
                "media_id": (data.get(kind) or {}).get("id", "") if kind in MEDIA_LIMITS else "",
                "request": data,
                "status": "accepted",
                "timestamp": int(self.now()),
            }
            self.sent.append(sent)
            self.chats.setdefault((pnid, to), []).append(sent)
            self._typing.pop((pnid, to), None)  # our next message clears "typing…"
        self._emit_statuses(sent, error)
        response: dict = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to_raw, "wa_id": to}],
            "messages": [{"id": sent["wamid"]}],
        }
        if kind == "template":
            response["messages"][0]["message_status"] = "accepted"
        return response

    def _validate_send(self, number: Number, kind: str, data: dict) -> str:
        obj = data.get(kind)
        if kind == "text":
            body = obj.get("body")
            if not isinstance(body, str) or not body.strip():
                raise GraphError(131008, "text.body is required")
            if len(body) > 4096:
                raise GraphError(131009, "text.body is longer than 4096 characters")
            return body
        if kind in MEDIA_LIMITS:
            if bool(obj.get("id")) == bool(obj.get("link")):
                raise GraphError(131009, f"{kind} needs exactly one of id and link")
            if obj.get("id") and obj["id"] not in self.media:
                raise GraphError(131009, "media id does not exist")
            caption = obj.get("caption")
            if caption is not None and (
                kind not in ("image", "video", "document") or len(str(caption)) > 1024
            ):
                raise GraphError(131009, "caption is not allowed here or too long")
            if obj.get("filename") is not None and kind != "document":
                raise GraphError(131009, "filename is only allowed on documents")
            if obj.get("voice") is not None:
                stored = self.media.get(obj.get("id") or "") or {}
                if kind != "audio" or obj["voice"] is not True:
                    raise GraphError(131009, "voice is only allowed on audio, as true")
                if stored and not str(stored["mime_type"]).startswith("audio/ogg"):
                    raise GraphError(131009, "a voice message must be audio/ogg (Opus)")
            return str(caption or f"[{kind}]")
        if kind == "template":
            return self._validate_template_send(number, obj)
        if kind == "reaction":
            if not isinstance(obj.get("message_id"), str):
                raise GraphError(131008, "reaction.message_id is required")
            return str(obj.get("emoji") or "")
        if kind == "interactive":
            if obj.get("type") not in (
                "button",
                "list",
                "cta_url",
                "flow",
                "product",
                "product_list",
                "location_request_message",
            ):
                raise GraphError(131009, "interactive.type is not valid")
            body = (obj.get("body") or {}).get("text", "")
            if not body or len(body) > 1024:
                raise GraphError(131009, "interactive.body.text is required (at most 1024)")
            action = obj.get("action") or {}
            buttons = action.get("buttons")
            if obj["type"] == "button":
                if not (isinstance(buttons, list) and 1 <= len(buttons) <= 3):
                    raise GraphError(131009, "a button message has 1 to 3 buttons")
                replies = [(b.get("reply") or {}) for b in buttons if isinstance(b, dict)]
                titles = [str(r.get("title") or "") for r in replies]
                ids = [str(r.get("id") or "") for r in replies]
                if len(replies) != len(buttons) or not all(titles) or not all(ids):
                    raise GraphError(131008, "each button needs reply.id and reply.title")
                if any(len(t) > 20 for t in titles) or any(len(i) > 256 for i in ids):
                    raise GraphError(131009, "button title at most 20, id at most 256")
                if len(set(titles)) != len(titles) or len(set(ids)) != len(ids):
                    raise GraphError(131009, "button titles and ids must be unique")
            if obj["type"] == "list":
                self._validate_list(action)
            return body
        if kind == "contacts":
            cards = data.get("contacts")
            if not isinstance(cards, list) or not cards or not all(
                isinstance(c, dict) and isinstance(c.get("name"), dict)
                and str(c["name"].get("formatted_name") or "").strip()
                for c in cards
            ):
                raise GraphError(131008, "contacts needs cards with name.formatted_name")
            return ", ".join(str(c["name"]["formatted_name"]) for c in cards)
        if kind == "location":
            if not all(isinstance(obj.get(k), int | float) for k in ("latitude", "longitude")):
                raise GraphError(131009, "location needs latitude and longitude")
            return str(obj.get("name") or "[location]")
        return f"[{kind}]"

    @staticmethod
    def _validate_list(action: dict) -> None:
        """Meta's list limits: a button label ≤ 20, ≤ 10 sections, ≤ 10 rows in all (row id
        ≤ 200, title ≤ 24, description ≤ 72), a title on each section when there are several."""
        label = action.get("button")
        sections = action.get("sections")
        if not isinstance(label, str) or not label.strip() or len(label) > 20:
            raise GraphError(131009, "a list needs action.button of at most 20 characters")
        if not isinstance(sections, list) or not 1 <= len(sections) <= 10:
            raise GraphError(131009, "a list has 1 to 10 sections")
        rows = [r for sec in sections if isinstance(sec, dict) for r in sec.get("rows") or []]
        if not 1 <= len(rows) <= 10:
            raise GraphError(131009, "a list has 1 to 10 rows in total")
        if len(sections) > 1 and not all(isinstance(x, dict) and x.get("title") for x in sections):
            raise GraphError(131009, "each section needs a title when there are several")
        for row in rows:
            if not isinstance(row, dict) or not row.get("id") or not row.get("title"):
                raise GraphError(131008, "each row needs an id and a title")
            if (
                len(str(row["id"])) > 200
                or len(str(row["title"])) > 24
                or len(str(row.get("description") or "")) > 72
            ):
                raise GraphError(131009, "row id at most 200, title 24, description 72")
        if len({str(r["id"]) for r in rows}) != len(rows):
            raise GraphError(131009, "row ids must be unique")

    def _mark_read(self, pnid: str, data: dict) -> dict:
        """``status: read`` (blue ticks on the customer's message and every earlier one), with
        ``typing_indicator: {type: text}`` also "typing…" for about 25 seconds. Caller holds the
        lock."""
        message_id = data.get("message_id")
        if not isinstance(message_id, str):
            raise GraphError(100, "message_id is required")
        typing = data.get("typing_indicator")
        if typing is not None and (not isinstance(typing, dict) or typing.get("type") != "text"):
            raise GraphError(131009, "typing_indicator must be {type: text}")
        for key, chat in self.chats.items():
            if key[0] != pnid:
                continue
            found = next((i for i, m in enumerate(chat) if m["wamid"] == message_id), None)
            if found is None:
                continue
            for m in chat[: found + 1]:
                if m.get("direction") == "in":
                    m["status"] = "read"
            if typing is not None:
                self._typing[key] = self.now() + TYPING_SECONDS
        self.read_marks.append(
            {
                "phone_number_id": pnid,
                "message_id": message_id,
                "typing": typing is not None,
                "at": self.now(),
            }
        )
        return {"success": True}

    def typing_in(self, phone_number_id: str, wa_id: str) -> bool:
        """Whether the customer sees "typing…" from the business now."""
        with self._lock:
            return self._typing.get((phone_number_id, wa_id), 0) > self.now()

    def _validate_template_send(self, number: Number, obj: dict) -> str:
        name = obj.get("name")
        language = (
            (obj.get("language") or {}).get("code")
            if isinstance(obj.get("language"), dict)
            else None
        )
        template = self.templates.get(number.waba_id, {}).get((name, language))
        if template is None or template["status"] not in ("APPROVED", "FLAGGED"):
            code = {"PAUSED": 132015, "DISABLED": 132016}.get(
                (template or {}).get("status"), 132001
            )
            raise GraphError(
                code,
                f"template name ({name}) does not exist in {language} or is not approved",
                http=404 if code == 132001 else 400,
            )
        body_text = next(
            (
                c.get("text", "")
                for c in template["components"]
                if str(c.get("type")).upper() == "BODY"
            ),
            "",
        )
        expected = len(set(PLACEHOLDER_RE.findall(body_text)))
        given: list = []
        for component in obj.get("components") or []:
            if isinstance(component, dict) and component.get("type") == "body":
                given = component.get("parameters") or []
        if len(given) != expected:
            raise GraphError(132000, f"body expects {expected} parameters, received {len(given)}")
        values = [str(p.get("text", "")) if isinstance(p, dict) else "" for p in given]
        return PLACEHOLDER_RE.sub(
            lambda m: (
                values[int(m.group(1)) - 1]
                if m.group(1).isdigit() and 0 < int(m.group(1)) <= len(values)
                else m.group(0)
            ),
            body_text,
        )
