"""The Graph API's constants, its error shape and the small helpers every part of the
emulator uses (ids, field selection, paging cursors)."""

from __future__ import annotations

import base64
import re
import secrets

REGISTER_WINDOW = 72 * 3600  # Meta: 10 register/deregister calls per number per 72 h
REGISTER_LIMIT = 10
TEMPLATE_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,511}$")
PLACEHOLDER_RE = re.compile(r"\{\{\s*([a-z0-9_]+)\s*\}\}")
# Meta's template languages.
LANGUAGES = frozenset(
    [
        "af", "ar", "bg", "ca", "cs", "da", "de", "el", "en", "en_GB", "en_US", "es", "es_AR",
        "es_ES", "es_MX", "et", "fa", "fi", "fil", "fr", "ga", "gu", "ha", "he", "hi", "hr", "hu",
        "id", "it", "ja", "ka", "kk", "kn", "ko", "lo", "lt", "lv", "mk", "ml", "mr", "ms", "nb",
        "nl", "pa", "pl", "pt_BR", "pt_PT", "ro", "ru", "rw_RW", "sk", "sl", "sq", "sr", "sv",
        "sw", "ta", "te", "th", "tr", "uk", "ur", "uz", "vi", "zh_CN", "zh_HK", "zh_TW", "zu"
    ]
)  # fmt: skip
SEND_TYPES = frozenset(
    [
        "text",
        "image",
        "audio",
        "video",
        "document",
        "sticker",
        "location",
        "contacts",
        "interactive",
        "template",
        "reaction",
    ]
)
MEDIA_LIMITS = {
    "image": ({"image/jpeg", "image/png"}, 5 * 2**20),
    "video": ({"video/mp4", "video/3gp"}, 16 * 2**20),
    "audio": ({"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"}, 16 * 2**20),
    "sticker": ({"image/webp"}, 500 * 2**10),
    "document": (
        {
            "text/plain",
            "application/pdf",
            "application/msword",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.ms-excel",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "application/vnd.ms-powerpoint",
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        },
        100 * 2**20,
    ),
}
DEFAULT_MIME = {
    "image": "image/png",
    "sticker": "image/webp",
    "audio": "audio/ogg",
    "video": "video/mp4",
    "document": "application/pdf",
}
# A 1x1 PNG, the picture a customer sends when a demo injects an image.
TINY_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)

ERROR_TITLES = {
    0: "AuthException",
    4: "Too many calls",
    100: "Invalid parameter",
    190: "Access token has expired or is invalid",
    131000: "Something went wrong",
    131008: "Required parameter is missing",
    131009: "Parameter value is not valid",
    131016: "Service unavailable",
    131026: "Message undeliverable",
    131030: "Recipient phone number not in allowed list",
    131047: "Re-engagement message",
    131051: "Unsupported message type",
    130429: "Rate limit hit",
    132000: "Number of parameters does not match the expected number of params",
    132001: "Template name does not exist in the translation",
    133005: "Two step verification PIN Mismatch",
    133006: "Phone number needs to be verified before registering",
    133010: "Phone number not registered",
    133016: "Account register deregister rate limit exceeded",
    136024: "Request code error",
    136025: "Verify code error",
}
ASYNC_DETAILS = {
    131047: "Message failed to send because more than 24 hours have passed since the customer "
    "last replied to this number.",
    131026: "Message could not be delivered to the recipient.",
}


STATUS_RANK = {"accepted": 0, "sent": 1, "failed": 2, "delivered": 3, "read": 4}


class GraphError(Exception):
    def __init__(
        self,
        code: int,
        details: str = "",
        *,
        http: int = 400,
        subcode: int | None = None,
        user_msg: str = "",
    ):
        super().__init__(details)
        self.code, self.details, self.http, self.subcode, self.user_msg = (
            code,
            details,
            http,
            subcode,
            user_msg,
        )

    def body(self) -> dict:
        title = ERROR_TITLES.get(self.code, "Error")
        error = {
            "message": f"(#{self.code}) {title}",
            "type": "OAuthException",
            "code": self.code,
            "error_data": {"messaging_product": "whatsapp", "details": self.details or title},
            "fbtrace_id": secrets.token_urlsafe(16),
        }
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.user_msg:
            error["error_user_title"] = title
            error["error_user_msg"] = self.user_msg
        return {"error": error}


def media_kind(mime: str, content: bytes) -> str | None:
    """The message type a file of this MIME type and size may be sent as (None: refused)."""
    for kind, (types, limit) in MEDIA_LIMITS.items():
        if mime in types and len(content) <= limit:
            return kind
    return None


def new_wamid() -> str:
    return "wamid." + base64.b64encode(secrets.token_bytes(27)).decode()


def pick_fields(obj: dict, wanted: str | None) -> dict:
    if not wanted:
        return dict(obj)
    keys = {k.strip() for k in wanted.split(",")} | {"id"}
    return {k: v for k, v in obj.items() if k in keys}


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode()


def decode_cursor(value: str | None) -> int:
    try:
        return max(0, int(base64.urlsafe_b64decode((value or "MA==").encode()).decode()))
    except ValueError:
        return 0
