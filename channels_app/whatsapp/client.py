"""An httpx client for the Cloud API endpoints the desk uses (see docs/whatsapp.md).

The bearer token is sent in a header and never logged or shown in a repr. Every non-2xx answer
becomes a typed error from ``channels_app.whatsapp.errors``; connection problems and timeouts
become ``TransportError`` (transient).
"""

from __future__ import annotations

import hashlib
import json as json_module
import logging
import tempfile
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings

from channels_app.transports import MediaInfo, SendResult
from channels_app.whatsapp import media_policy
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
from channels_app.whatsapp.media_policy import MediaRefused, is_media_id

logger = logging.getLogger(__name__)

MEDIA_KINDS = ("image", "video", "audio", "document", "sticker")
# A download up to this size stays in memory; a larger one goes to a temporary file.
SPOOL_IN_MEMORY = 2**20


# Told after every call made for a channel (``for_channel``): ``listener(channel_id, error)``,
# error None when the call was answered. channels_app registers channels_app.health's recorder
# in its AppConfig.ready, so a token that stops working (401 / code 190) is recorded per channel
# and cleared when it works again; this package knows no models. A listener never fails a call.
token_listeners: list = []


class WhatsAppClient:
    """One channel's view of the Graph API; cheap to build, holds no connection between calls."""

    def __init__(
        self,
        token: str,
        *,
        base_url: str | None = None,
        timeout: float | None = None,
        channel_id: int | None = None,
    ):
        self._token = token
        self._base_url = base_url
        self._timeout = timeout
        self._channel_id = channel_id

    def __repr__(self) -> str:
        return f"WhatsAppClient(base_url={self.base_url!r}, token='***')"

    @classmethod
    def for_channel(cls, channel) -> WhatsAppClient:
        return cls(channel.access_token, channel_id=channel.pk)

    def _tell(self, error: WhatsAppError | None) -> None:
        if self._channel_id is None:
            return
        for listener in token_listeners:
            try:
                listener(self._channel_id, error)
            except Exception:  # the call's own outcome matters more than its bookkeeping
                logger.exception("token listener %r failed", listener)

    # Read at call time so that override_settings and the test emulator fixture take effect.
    @property
    def base_url(self) -> str:
        return (self._base_url or settings.WHATSAPP_GRAPH_URL).rstrip("/")

    @property
    def timeout(self) -> float:
        return self._timeout if self._timeout is not None else settings.WHATSAPP_HTTP_TIMEOUT

    # --- transport ---------------------------------------------------------------------------
    def _request(self, method: str, path: str, **kwargs):
        """A call to ``{base_url}/{path}``; ``path`` is built from our own ids, never a URL."""
        if "://" in path or path.startswith("/") or "\\" in path:
            raise ValueError("a Graph API path, not a URL")
        return self._call(method, f"{self.base_url}/{path}", **kwargs)

    def _request_url(self, method: str, url: str, **kwargs):
        """A call to a full URL the API handed out; only on the API's own host (the bearer token
        goes with the request)."""
        if _origin_of(url) != _origin_of(self.base_url):
            raise MediaRefused("a link to another host than the Graph API")
        return self._call(method, url, **kwargs)

    def _call(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: dict | None = None,
        data: dict | None = None,
        files: dict | None = None,
    ):
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
                follow_redirects=False,
            )
        except httpx.TimeoutException as exc:
            raise TransportError(f"timeout calling {method} {_path_of(url)}") from exc
        except httpx.HTTPError as exc:
            raise TransportError(f"{type(exc).__name__} calling {method} {_path_of(url)}") from exc
        if response.status_code >= 400:
            error = self._error(method, url, response.status_code, response.content)
            self._tell(error)
            raise error
        self._tell(None)
        if response.is_redirect:
            raise MediaRefused("the Graph API answered with a redirect")
        try:
            return response.json()
        except ValueError as exc:
            raise error_for(
                None, http_status=response.status_code, message="response is not JSON"
            ) from exc

    @staticmethod
    def _error(method: str, url: str, status: int, content: bytes) -> WhatsAppError:
        try:
            body = json_module.loads(content)
        except ValueError:
            body = None
        error = error_from_body(body, http_status=status)
        logger.warning(
            "WhatsApp API %s %s answered %s: code=%s", method, _path_of(url), status, error.code
        )
        return error

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
        voice: bool = False,
        reply_to: str | None = None,
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
        if voice and kind == "audio":
            media["voice"] = True  # a push-to-talk note (OGG/Opus), shown as one by WhatsApp
        message: dict[str, Any] = {"to": to, "type": kind, kind: media}
        if reply_to:
            message["context"] = {"message_id": reply_to}
        if callback_data:
            message["biz_opaque_callback_data"] = callback_data
        return self._send(phone_number_id, message)

    def send_message(
        self,
        phone_number_id: str,
        *,
        to: str,
        kind: str,
        body: dict | list,
        reply_to: str | None = None,
        callback_data: str | None = None,
    ) -> SendResult:
        """Any other message type (reaction, interactive, location, contacts): ``body`` is the
        object named after ``kind``, built by ``channels_app.whatsapp.outgoing``."""
        message: dict[str, Any] = {"to": to, "type": kind, kind: body}
        if reply_to:
            message["context"] = {"message_id": reply_to}
        if callback_data:
            message["biz_opaque_callback_data"] = callback_data
        return self._send(phone_number_id, message)

    def mark_read(self, phone_number_id: str, *, message_id: str, typing: bool = False) -> None:
        """Blue ticks up to ``message_id``; ``typing`` also shows "typing…" to the customer
        (Meta: cleared by our next message or after about 25 seconds)."""
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": message_id,
        }
        if typing:
            body["typing_indicator"] = {"type": "text"}
        self._request("POST", f"{phone_number_id}/messages", json=body)

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
        """The download URL and facts of an inbound media; ``media_id`` must be digits."""
        if not is_media_id(media_id):
            raise MediaRefused("the media id is not a WhatsApp media id (digits)")
        body = self._request("GET", media_id)
        size = body.get("file_size")
        url = body.get("url")
        if not isinstance(url, str):
            raise MediaRefused("the Graph API gave no download URL")
        return MediaInfo(
            id=str(body.get("id") or media_id),
            url=url,
            mime_type=str(body.get("mime_type") or ""),
            sha256=str(body.get("sha256") or ""),
            # Meta sends a number; some client typings say string: accept both.
            file_size=int(size) if str(size or "").isdigit() else None,
        )

    def download_media(self, url: str, *, kind: str = "document", declared_type: str = ""):
        """Stream a media file from the URL ``get_media`` answered into a temporary file.

        Only over https from WHATSAPP_MEDIA_HOSTS (see media_policy), never following a redirect,
        at most WhatsApp's limit for ``kind``, and only with a content type that fits ``kind``;
        anything else raises ``MediaRefused`` before or while reading, never after storing.
        """
        refusal = media_policy.download_refusal(url)
        if refusal:
            raise MediaRefused(refusal)
        limit = media_policy.MAX_BYTES.get(kind, media_policy.MAX_BYTES["document"])
        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            with httpx.stream(
                "GET", url, headers=headers, timeout=self.timeout, follow_redirects=False
            ) as response:
                if response.status_code >= 400:
                    raise self._error("GET", url, response.status_code, _head(response))
                if response.is_redirect or response.status_code != 200:
                    raise MediaRefused(f"the media host answered {response.status_code}")
                content_type = response.headers.get("content-type", "")
                if not media_policy.content_type_fits(kind, content_type, declared_type):
                    raise MediaRefused(
                        f"the media host sent {content_type.split(';')[0][:100] or 'no type'}"
                        f" for a {kind}"
                    )
                length = response.headers.get("content-length", "")
                if length.isdigit() and int(length) > limit:
                    raise MediaRefused(f"larger than the {limit // 1024} KB allowed for a {kind}")
                return _spool(response, limit, kind, content_type)
        except httpx.TimeoutException as exc:
            raise TransportError(f"timeout downloading {_path_of(url)}") from exc
        except httpx.HTTPError as exc:
            raise TransportError(f"{type(exc).__name__} downloading {_path_of(url)}") from exc

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
            body = self._request_url("GET", next_url)
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


@dataclass
class MediaDownload:
    """A downloaded media file: a temporary file at position 0, its size, digest and type."""

    file: IO[bytes]
    size: int
    sha256: bytes
    content_type: str

    def read(self) -> bytes:
        self.file.seek(0)
        data = self.file.read()
        self.file.seek(0)
        return data


def _spool(response: httpx.Response, limit: int, kind: str, content_type: str) -> MediaDownload:
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - returned
    digest = hashlib.sha256()
    size = 0
    try:
        for chunk in response.iter_bytes(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise MediaRefused(f"larger than the {limit // 1024} KB allowed for a {kind}")
            digest.update(chunk)
            spool.write(chunk)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return MediaDownload(
        file=spool, size=size, sha256=digest.digest(), content_type=content_type.split(";")[0]
    )


def _head(response: httpx.Response, limit: int = 64 * 1024) -> bytes:
    """The start of an error answer (enough for Meta's JSON error), never all of it."""
    data = b""
    for chunk in response.iter_bytes(8192):
        data += chunk
        if len(data) >= limit:
            break
    return data[:limit]


def _origin_of(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    return (parts.scheme, (parts.hostname or "").lower(), port)


def _path_of(url: str) -> str:
    # Logged instead of the URL: a query string could carry an access_token.
    return urlsplit(url).path
