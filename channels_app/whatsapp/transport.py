"""WhatsApp as a transport (``channels_app.transports.base.Transport``): the first medium.

A thin adapter over this package's parts: the webhook parser and signature check
(``webhooks``), the Cloud API client (``client``), the message builders (``outgoing``) and the
24-hour window (``window``). Registered for ``Channel.Kind.WHATSAPP`` by ``channels_app.apps``.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings

from channels_app.transports.base import (
    ContactIdentity,
    MediaInfo,
    Outgoing,
    SendResult,
)
from channels_app.whatsapp import outgoing, webhooks, window
from channels_app.whatsapp.client import MEDIA_KINDS, MediaDownload, WhatsAppClient
from channels_app.whatsapp.media_policy import MAX_BYTES, MediaRefused

KIND = "whatsapp"  # Channel.Kind.WHATSAPP (channels_app.models imports nothing of this package)


class WhatsAppTransport:
    kind = KIND

    # --- an inbound request ------------------------------------------------------------------
    def handshake(self, params: Mapping[str, str]) -> tuple[int, str]:
        """Meta's verification of the webhook: echo ``hub.challenge`` for our verify token."""
        mode, token = params.get("hub.mode"), params.get("hub.verify_token")
        challenge = params.get("hub.challenge")
        if mode is None or token is None or challenge is None:
            return 400, "hub.mode, hub.verify_token and hub.challenge are required"
        expected = settings.WHATSAPP_VERIFY_TOKEN
        if mode == "subscribe" and expected and hmac.compare_digest(
            token.encode(), expected.encode()
        ):
            return 200, challenge
        return 403, "verification failed"

    def verify(self, raw: bytes, headers: Mapping[str, str]) -> bool:
        return webhooks.verify_signature(
            raw, headers.get(webhooks.SIGNATURE_HEADER), settings.WHATSAPP_APP_SECRET
        )

    def load(self, raw: bytes) -> dict:
        return webhooks.load(raw)

    def count_items(self, loaded: dict) -> int:
        return webhooks.count_items(loaded)

    def events(self, loaded: dict) -> list[webhooks.Event]:
        return webhooks.events_of(loaded)

    # --- the contact -------------------------------------------------------------------------
    def identity(
        self, *, wa_id: str | None, bsuid: str | None, profile_name: str = ""
    ) -> ContactIdentity:
        """A customer is their WhatsApp ID (digits; shown as +E.164), else their BSUID when
        they hide their number."""
        return ContactIdentity(
            kind=KIND,
            wa_id=wa_id or None,
            bsuid=bsuid or None,
            profile_name=profile_name or "",
            phone=f"+{wa_id}" if wa_id else "",
        )

    def address_of(self, contact: Any) -> str | None:
        return contact.wa_id or None  # a BSUID-only customer cannot be written to by number

    # --- the window policy -------------------------------------------------------------------
    def window_closes_at(self, last_inbound: datetime | None) -> datetime | None:
        return window.closes_at(last_inbound)

    def window_open(
        self, last_inbound: datetime | None, at: datetime, *, margin: timedelta = timedelta(0)
    ) -> bool:
        return window.is_open(last_inbound, at, margin=margin)

    # --- out ---------------------------------------------------------------------------------
    def send(self, channel: Any, message: Outgoing) -> SendResult:
        client = WhatsAppClient.for_channel(channel)
        number, to = channel.phone_number_id, message.to
        callback = message.callback_data or None
        if message.kind == "template":
            return client.send_template(
                number,
                to=to,
                name=message.template_name,
                language=message.template_language,
                components=message.template_components,
                callback_data=callback,
            )
        if message.kind in MEDIA_KINDS:
            return client.send_media(
                number,
                to=to,
                kind=message.kind,
                media_id=message.media_id,
                link=message.link,
                caption=message.text or None,
                filename=message.filename,
                voice=message.voice,
                reply_to=message.reply_to,
                callback_data=callback,
            )
        if message.kind in outgoing.TYPES:
            return client.send_message(
                number,
                to=to,
                kind=message.kind,
                body=outgoing.body_for(message.kind, dict(message.payload)),
                reply_to=message.reply_to,
                callback_data=callback,
            )
        return client.send_text(
            number, to=to, body=message.text, reply_to=message.reply_to, callback_data=callback
        )

    def upload_media(self, channel: Any, *, content: bytes, mime_type: str, filename: str) -> str:
        return WhatsAppClient.for_channel(channel).upload_media(
            channel.phone_number_id, content=content, mime_type=mime_type, filename=filename
        )

    def fetch_media(
        self, channel: Any, media_id: str, *, kind: str
    ) -> tuple[MediaInfo, MediaDownload]:
        """The media's facts, then its file (refused before the download when Meta already
        says it is larger than WhatsApp allows for ``kind``)."""
        client = WhatsAppClient.for_channel(channel)
        info = client.get_media(media_id)
        limit = MAX_BYTES.get(kind, MAX_BYTES["document"])
        if info.file_size is not None and info.file_size > limit:
            raise MediaRefused(f"larger than the {limit // 1024} KB allowed for a {kind}")
        return info, client.download_media(info.url, kind=kind, declared_type=info.mime_type)

    def mark_read(self, channel: Any, *, message_id: str, typing: bool = False) -> None:
        """Blue ticks (and "typing…") up to a customer's message."""
        WhatsAppClient.for_channel(channel).mark_read(
            channel.phone_number_id, message_id=message_id, typing=typing
        )
