"""The customer's side: messages injected as if a customer wrote, echoes from the business
app, the chats the phone page shows, and chats learned from the desk (``--seed-from-db``)."""

from __future__ import annotations

import re

from devtools.whatsapp_emulator.graph import (
    DEFAULT_MIME,
    MEDIA_LIMITS,
    TINY_PNG,
    GraphError,
    media_kind,
    new_wamid,
)


class CustomerSide:
    """A part of ``Emulator`` (server.py), as the module docstring says."""

    # --- customer side -----------------------------------------------------------------------
    def inject(
        self,
        phone_number_id: str,
        *,
        wa_id: str,
        name: str = "",
        type: str = "text",
        text: str = "",
        message: dict | None = None,
        reply_to: str = "",
        at: float | None = None,
        media: tuple[bytes, str, str] | None = None,
        voice: bool = False,
    ) -> str:
        """A customer writes to a business number: records it, opens the 24 h window, and
        delivers the inbound webhook. Returns the new wamid. ``message`` adds/overrides fields;
        ``media`` is the (content, MIME type, file name) a customer attaches (default: a tiny
        picture)."""
        media_id = ""
        with self._lock:
            number = self._number(phone_number_id)
            if not re.fullmatch(r"\d{7,15}", wa_id):
                raise GraphError(100, "wa_id must be 7-15 digits")
            timestamp = int(at if at is not None else self.now())
            wamid = new_wamid()
            item: dict = {"from": wa_id, "id": wamid, "timestamp": str(timestamp), "type": type}
            if type == "text":
                item["text"] = {"body": text}
            elif type in MEDIA_LIMITS:
                content, mime, filename = media or (TINY_PNG, DEFAULT_MIME[type], f"{type}.bin")
                if media_kind(mime, content) != type:
                    raise GraphError(131053, f"{mime} of {len(content)} bytes is no {type}")
                media_id = self._store_media(content, mime, filename, phone_number_id)
                item[type] = {
                    "id": media_id,
                    "mime_type": mime,
                    "sha256": self.media[media_id]["sha256"],
                }
                if type == "document":
                    item[type]["filename"] = filename
                if type == "audio":
                    item[type]["voice"] = bool(voice)
                if text and type in ("image", "video", "document"):
                    item[type]["caption"] = text
            elif type == "location":
                item["location"] = {"latitude": 52.52, "longitude": 13.405, "name": text or "Pin"}
            if reply_to:
                item["context"] = {"from": number.digits, "id": reply_to}
            item.update(message or {})
            kind = item.get("type", type)
            detail = item.get(kind) if kind not in ("text", *MEDIA_LIMITS) else None
            if kind == "reaction" and isinstance(detail, dict):
                text = text or str(detail.get("emoji") or "")
            # Meta: every inbound message (re)opens the customer service window.
            self.last_inbound[(phone_number_id, wa_id)] = max(
                timestamp, self.last_inbound.get((phone_number_id, wa_id), 0)
            )
            self.chats.setdefault((phone_number_id, wa_id), []).append(
                {
                    "direction": "in",
                    "wamid": wamid,
                    "type": kind,
                    "text": text,
                    "timestamp": timestamp,
                    "status": "sent",
                    "media_id": media_id,
                    "context": (item.get("context") or {}).get("id", ""),
                    "detail": detail,
                    "voice": bool(voice),
                }
            )
            self.contact_names[(phone_number_id, wa_id)] = name or "Customer"
            contact = {"profile": {"name": name or "Customer"}, "wa_id": wa_id}
            payload = self._envelope(number, {"contacts": [contact], "messages": [item]})
        self.deliver_webhook(payload)
        return wamid

    def echo_from_app(
        self, phone_number_id: str, *, to: str, text: str = "", message: dict | None = None
    ) -> str:
        """The business writes to ``to`` from the WhatsApp Business app on the same number
        (coexistence): Meta's ``smb_message_echoes`` webhook. ``message`` adds/overrides fields
        (an ``edit`` or ``revoke`` object). Returns the new wamid."""
        with self._lock:
            number = self._number(phone_number_id)
            wamid = new_wamid()
            item: dict = {"from": number.digits, "to": to, "id": wamid,
                          "timestamp": str(int(self.now())), "type": "text",
                          "text": {"body": text}}  # fmt: skip
            item.update(message or {})
            sent = {"direction": "out", "wamid": wamid, "type": item["type"], "text": text,
                    "timestamp": int(self.now()), "status": "sent"}  # fmt: skip
            self.chats.setdefault((phone_number_id, to), []).append(sent)
            metadata = {"display_phone_number": number.digits, "phone_number_id": phone_number_id}
            value = {"messaging_product": "whatsapp", "metadata": metadata}
            value["message_echoes"] = [item]
            payload = self._envelope(number, value, field_name="smb_message_echoes")
        self.deliver_webhook(payload)
        return wamid

    def chat(self, phone_number_id: str, wa_id: str) -> list[dict]:
        with self._lock:
            return [dict(m) for m in self.chats.get((phone_number_id, wa_id), [])]

    def learn_chat(
        self,
        phone_number_id: str,
        wa_id: str,
        *,
        name: str,
        messages: list[dict],
        last_inbound: float | None = None,
    ) -> None:
        """Take over a conversation the desk already holds (``--seed-from-db``), as if it had
        passed through here: its messages (``direction``, ``wamid``, ``type``, ``text``,
        ``timestamp``, ``status``) for the phone page, and the customer's latest message time
        (``last_inbound``, else the latest inbound one given), which opens the 24-hour window
        exactly as the desk computes it."""
        with self._lock:
            key = (str(phone_number_id), str(wa_id))
            known = {m["wamid"] for m in self.chats.get(key, [])}
            chat = self.chats.setdefault(key, [])
            chat.extend(dict(m) for m in messages if m["wamid"] not in known)
            chat.sort(key=lambda m: m["timestamp"])
            self.contact_names[key] = name or self.contact_names.get(key, "") or "Customer"
            inbound = [m["timestamp"] for m in messages if m["direction"] == "in"]
            inbound += [last_inbound] if last_inbound is not None else []
            if inbound:
                self.last_inbound[key] = max(max(inbound), self.last_inbound.get(key, 0))

    def device_messages(self, phone_number_id: str) -> list[dict]:
        """What the business number's own phone received (verification SMS, voice calls)."""
        with self._lock:
            return [dict(m) for m in self._device.get(phone_number_id, [])]
