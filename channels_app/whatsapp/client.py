"""An httpx client for the Cloud API endpoints the desk uses (see docs/whatsapp.md).

The bearer token is sent in a header and never logged or shown in a repr. Every non-2xx answer
becomes a typed error from ``channels_app.whatsapp.errors``; connection problems and timeouts
become ``TransportError`` (transient).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings

from channels_app.whatsapp.errors import (  # noqa: F401 - re-exported for callers
    InvalidToken,
    NotAllowedRecipient,
    RateLimited,
    ServiceUnavailable,
    TemplateNotApproved,
    TransportError,
    Undeliverable,
    WhatsAppError,
    WindowClosed,
    error_for,
    error_from_body,
)

logger = logging.getLogger(__name__)

MEDIA_KINDS = ("image", "video", "audio", "document", "sticker")


@dataclass(frozen=True)
class SendResult:
    wamid: str
    wa_id: str
    message_status: str = ""


@dataclass(frozen=True)
class MediaInfo:
    id: str
    url: str
    mime_type: str
    sha256: str
    file_size: int | None


class WhatsAppClient:
    """One channel's view of the Graph API; cheap to build, holds no connection between calls."""

    def __init__(self, token: str, *, base_url: str | None = None, timeout: float | None = None):
        self._token = token
        self._base_url = base_url
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"WhatsAppClient(base_url={self.base_url!r}, token='***')"

    @classmethod
    def for_channel(cls, channel) -> WhatsAppClient:
        return cls(channel.access_token)

    # Read at call time so that override_settings and the test emulator fixture take effect.
    @property
    def base_url(self) -> str:
        return (self._base_url or settings.WHATSAPP_GRAPH_URL).rstrip("/")

    @property
    def timeout(self) -> float:
        return self._timeout if self._timeout is not None else settings.WHATSAPP_HTTP_TIMEOUT

    # --- transport ---------------------------------------------------------------------------
    def _request(
        self,
        method: str,
        path_or_url: str,
        *,
        json: Any = None,
        params: dict | None = None,
        data: dict | None = None,
        files: dict | None = None,
        raw: bool = False,
    ):
        url = path_or_url if "://" in path_or_url else f"{self.base_url}/{path_or_url}"
        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            response = httpx.request(
                method,
                url,
                json=json,
                params=params,
                data=data,
                files=files,
                headers=headers,
                timeout=self.timeout,
                follow_redirects=raw,
            )
        except httpx.TimeoutException as exc:
            raise TransportError(f"timeout calling {method} {_path_of(url)}") from exc
        except httpx.HTTPError as exc:
            raise TransportError(f"{type(exc).__name__} calling {method} {_path_of(url)}") from exc
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = None
            error = error_from_body(body, http_status=response.status_code)
            logger.warning(
                "WhatsApp API %s %s answered %s: code=%s",
                method,
                _path_of(url),
                response.status_code,
                error.code,
            )
            raise error
        if raw:
            return response.content
        try:
            return response.json()
        except ValueError as exc:
            raise error_for(
                None, http_status=response.status_code, message="response is not JSON"
            ) from exc

    def _send(self, phone_number_id: str, message: dict) -> SendResult:
        body = self._request(
            "POST",
            f"{phone_number_id}/messages",
            json={"messaging_product": "whatsapp", "recipient_type": "individual", **message},
        )
        try:
            sent = body["messages"][0]
            contact = (body.get("contacts") or [{}])[0]
            return SendResult(
                wamid=str(sent["id"]),
                wa_id=str(contact.get("wa_id") or message.get("to") or ""),
                message_status=str(sent.get("message_status") or ""),
            )
        except (KeyError, IndexError, TypeError) as exc:
            raise error_for(None, message="send response without a message id") from exc

    # --- messages ----------------------------------------------------------------------------
    def send_text(
        self,
        phone_number_id: str,
        *,
        to: str,
        body: str,
        reply_to: str | None = None,
        callback_data: str | None = None,
    ) -> SendResult:
        message: dict[str, Any] = {
            "to": to,
            "type": "text",
            "text": {"preview_url": False, "body": body},
        }
        if reply_to:
            message["context"] = {"message_id": reply_to}
        if callback_data:
            message["biz_opaque_callback_data"] = callback_data
        return self._send(phone_number_id, message)

    def send_template(
        self,
        phone_number_id: str,
        *,
        to: str,
        name: str,
        language: str,
        components: list | None = None,
        callback_data: str | None = None,
    ) -> SendResult:
        template: dict[str, Any] = {"name": name, "language": {"code": language}}
        if components:
            template["components"] = components
        message: dict[str, Any] = {"to": to, "type": "template", "template": template}
        if callback_data:
            message["biz_opaque_callback_data"] = callback_data
        return self._send(phone_number_id, message)

    def send_media(
        self,
        phone_number_id: str,
        *,
        to: str,
        kind: str,
        media_id: str | None = None,
        link: str | None = None,
        caption: str | None = None,
        filename: str | None = None,
        callback_data: str | None = None,
    ) -> SendResult:
        if kind not in MEDIA_KINDS:
            raise ValueError(f"unknown media kind {kind!r}")
        if bool(media_id) == bool(link):
            raise ValueError("pass exactly one of media_id and link")
        media: dict[str, Any] = {"id": media_id} if media_id else {"link": link}
        if caption and kind in ("image", "video", "document"):
            media["caption"] = caption
        if filename and kind == "document":
            media["filename"] = filename
        message: dict[str, Any] = {"to": to, "type": kind, kind: media}
        if callback_data:
            message["biz_opaque_callback_data"] = callback_data
        return self._send(phone_number_id, message)

    def mark_read(self, phone_number_id: str, *, message_id: str) -> None:
        self._request(
            "POST",
            f"{phone_number_id}/messages",
            json={"messaging_product": "whatsapp", "status": "read", "message_id": message_id},
        )

    # --- media -------------------------------------------------------------------------------
    def upload_media(
        self, phone_number_id: str, *, content: bytes, mime_type: str, filename: str
    ) -> str:
        body = self._request(
            "POST",
            f"{phone_number_id}/media",
            data={"messaging_product": "whatsapp", "type": mime_type},
            files={"file": (filename, content, mime_type)},
        )
        return str(body["id"])

    def get_media(self, media_id: str) -> MediaInfo:
        body = self._request("GET", str(media_id))
        size = body.get("file_size")
        return MediaInfo(
            id=str(body.get("id") or media_id),
            url=str(body["url"]),
            mime_type=str(body.get("mime_type") or ""),
            sha256=str(body.get("sha256") or ""),
            # Meta sends a number; some client typings say string: accept both.
            file_size=int(size) if str(size or "").isdigit() else None,
        )

    def download_media(self, url: str) -> bytes:
        return self._request("GET", url, raw=True)

    # --- templates ---------------------------------------------------------------------------
    def list_templates(self, waba_id: str) -> list[dict]:
        """Every template of the business account, following ``paging.next`` to the end."""
        fields = (
            "id,name,language,status,category,components,quality_score,rejected_reason,"
            "parameter_format"
        )
        body = self._request(
            "GET", f"{waba_id}/message_templates", params={"fields": fields, "limit": 100}
        )
        templates = list(body.get("data") or [])
        seen: set[str] = set()
        while (next_url := (body.get("paging") or {}).get("next")) and next_url not in seen:
            seen.add(next_url)
            # Only follow links on the API's own host: the bearer token goes with the request.
            if urlsplit(next_url).netloc != urlsplit(self.base_url).netloc:
                logger.warning("ignoring a paging link to another host")
                break
            body = self._request("GET", next_url)
            templates.extend(body.get("data") or [])
        return templates

    def create_template(
        self,
        waba_id: str,
        *,
        name: str,
        language: str,
        category: str,
        components: list,
        parameter_format: str = "POSITIONAL",
    ) -> dict:
        return self._request(
            "POST",
            f"{waba_id}/message_templates",
            json={
                "name": name,
                "language": language,
                "category": category,
                "parameter_format": parameter_format,
                "components": components,
            },
        )

    # --- phone numbers and onboarding --------------------------------------------------------
    def get_phone_number(self, phone_number_id: str, *, fields: list[str] | None = None) -> dict:
        params = {"fields": ",".join(fields)} if fields else None
        return self._request("GET", str(phone_number_id), params=params)

    def add_phone_number(
        self, waba_id: str, *, cc: str, phone_number: str, verified_name: str
    ) -> str:
        body = self._request(
            "POST",
            f"{waba_id}/phone_numbers",
            json={"cc": cc, "phone_number": phone_number, "verified_name": verified_name},
        )
        return str(body["id"])

    def request_code(self, phone_number_id: str, *, method: str, language: str = "en_US") -> None:
        if method not in ("SMS", "VOICE"):
            raise ValueError("method is SMS or VOICE")
        self._request(
            "POST",
            f"{phone_number_id}/request_code",
            json={"code_method": method, "language": language},
        )

    def verify_code(self, phone_number_id: str, *, code: str) -> None:
        self._request("POST", f"{phone_number_id}/verify_code", json={"code": code})

    def register(self, phone_number_id: str, *, pin: str) -> None:
        self._request(
            "POST",
            f"{phone_number_id}/register",
            json={"messaging_product": "whatsapp", "pin": pin},
        )

    def get_business_profile(self, phone_number_id: str) -> dict:
        body = self._request(
            "GET",
            f"{phone_number_id}/whatsapp_business_profile",
            params={
                "fields": "about,address,description,email,profile_picture_url,websites,vertical"
            },
        )
        data = body.get("data") or [{}]
        return data[0]

    def update_business_profile(self, phone_number_id: str, **fields) -> None:
        self._request(
            "POST",
            f"{phone_number_id}/whatsapp_business_profile",
            json={"messaging_product": "whatsapp", **fields},
        )

    def request_official_business_account(self, phone_number_id: str, **fields) -> None:
        self._request("POST", f"{phone_number_id}/official_business_account", json=fields)


def _path_of(url: str) -> str:
    # Logged instead of the URL: a query string could carry an access_token.
    return urlsplit(url).path
