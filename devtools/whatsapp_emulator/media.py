"""Media: uploads (multipart), the signed short-lived download URLs, stored files."""

from __future__ import annotations

import base64
import hashlib
import hmac
from email import policy
from email.parser import BytesParser

from devtools.whatsapp_emulator.graph import GraphError, media_kind


class Media:
    """A part of ``Emulator`` (server.py), as the module docstring says."""

    # --- media -------------------------------------------------------------------------------
    def _store_media(self, content: bytes, mime: str, filename: str, pnid: str) -> str:
        media_id = str(1043820517000000 + next(self._ids))
        self.media[media_id] = {
            "content": content,
            "mime_type": mime,
            "filename": filename,
            "sha256": base64.b64encode(hashlib.sha256(content).digest()).decode(),
            "phone_number_id": pnid,
            "created": self.now(),
        }
        return media_id

    def _upload(self, pnid: str, headers, body: bytes) -> dict:
        self._number(pnid)
        ctype = headers.get("Content-Type", "")
        if not ctype.startswith("multipart/form-data"):
            raise GraphError(100, "upload must be multipart/form-data")
        message = BytesParser(policy=policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body
        )
        fields: dict[str, str] = {}
        file_part = None
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name == "file":
                file_part = part
            elif name:
                fields[name] = part.get_content().strip()
        if fields.get("messaging_product") != "whatsapp" or file_part is None:
            raise GraphError(100, "messaging_product=whatsapp and file are required")
        mime = fields.get("type") or file_part.get_content_type()
        content = file_part.get_payload(decode=True) or b""
        if media_kind(mime, content) is None:
            raise GraphError(131053, f"Unsupported media type {mime} or larger than allowed")
        with self._lock:
            return {"id": self._store_media(content, mime, file_part.get_filename() or "", pnid)}

    def _media_signature(self, media_id: str, expires: int) -> str:
        return hmac.new(self._code_salt, f"{media_id}:{expires}".encode(), "sha256").hexdigest()

    def _download(self, query: dict, headers, media_id: str) -> tuple[int, str, bytes]:
        self._authenticate(headers, {})
        with self._lock:
            status = self._media_errors.popleft() if self._media_errors else None
        if status is not None:
            raise GraphError(131016, "Injected media download failure", http=status)
        media = self.media.get(media_id)
        expires = int(query.get("exp", "0")) if query.get("exp", "").isdigit() else 0
        if (
            media is None
            or not hmac.compare_digest(
                self._media_signature(media_id, expires), query.get("sig", "")
            )
            or self.now() > expires
        ):
            raise GraphError(100, "media URL expired or invalid", http=404)
        return 200, media["mime_type"], media["content"]
