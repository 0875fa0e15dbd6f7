"""Typed errors of the Cloud API: Meta's numeric code decides the class, never the message text."""

from __future__ import annotations

from typing import ClassVar

from django.utils.translation import gettext_lazy as _


class WhatsAppError(Exception):
    """A refusal or failure of the Cloud API, carrying Meta's code and a sentence for people.

    ``transient`` says whether sending the same request again later may succeed (rate limits,
    outages, timeouts); permanent errors must not be retried.
    """

    codes: ClassVar[frozenset[int]] = frozenset()
    transient_by_default: ClassVar[bool] = False
    summary: ClassVar = _("WhatsApp refused the request.")

    def __init__(
        self,
        message: str = "",
        *,
        code: int | None = None,
        subcode: int | None = None,
        title: str = "",
        details: str = "",
        http_status: int | None = None,
        transient: bool | None = None,
        fbtrace_id: str = "",
    ):
        self.message = message or title or details or str(self.summary)
        super().__init__(self.message)
        self.code = code
        self.subcode = subcode
        self.title = title
        self.details = details
        self.http_status = http_status
        self.transient = self.transient_by_default if transient is None else bool(transient)
        self.fbtrace_id = fbtrace_id

    @property
    def user_message(self) -> str:
        """What an agent reads in the conversation: our summary, plus Meta's code for support."""
        summary = str(self.summary)
        if type(self) is WhatsAppError and (self.details or self.title):
            summary = f"{summary} {self.details or self.title}"
        if self.code is not None:
            return _("%(summary)s (WhatsApp error %(code)s)") % {
                "summary": summary,
                "code": self.code,
            }
        return summary

    def __str__(self) -> str:
        return self.user_message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, subcode={self.subcode!r}, "
            f"http_status={self.http_status!r}, transient={self.transient!r}, "
            f"message={self.message!r})"
        )


class WindowClosed(WhatsAppError):
    codes = frozenset({131047})
    summary = _(
        "The 24-hour customer service window is closed: only an approved template can be sent."
    )


class RateLimited(WhatsAppError):
    codes = frozenset({4, 80007, 130429, 131056})
    transient_by_default = True
    summary = _("WhatsApp is rate-limiting this number; the message is sent again later.")


class Undeliverable(WhatsAppError):
    codes = frozenset({131026})
    summary = _(
        "The message could not be delivered: the recipient may not use WhatsApp, may run an old "
        "version, or may have blocked this number."
    )


class InvalidToken(WhatsAppError):
    codes = frozenset({0, 190})
    summary = _("The channel's access token is invalid or expired; an admin must renew it.")


class TemplateNotApproved(WhatsAppError):
    codes = frozenset({132001, 132015, 132016})
    summary = _(
        "The template does not exist in this language or is not approved (it may be paused or "
        "disabled)."
    )


class NotAllowedRecipient(WhatsAppError):
    codes = frozenset({131030})
    summary = _("This number may not message that recipient (not in the allowed list).")


class ServiceUnavailable(WhatsAppError):
    codes = frozenset({1, 2, 131000, 131016, 133004})
    transient_by_default = True
    summary = _("WhatsApp is temporarily unavailable; the message is sent again later.")


class TransportError(WhatsAppError):
    """The request did not get an answer (timeout, refused connection); always worth a retry."""

    transient_by_default = True
    summary = _("WhatsApp could not be reached; the message is sent again later.")


_BY_CODE: dict[int, type[WhatsAppError]] = {
    code: cls
    for cls in (
        WindowClosed,
        RateLimited,
        Undeliverable,
        InvalidToken,
        TemplateNotApproved,
        NotAllowedRecipient,
        ServiceUnavailable,
    )
    for code in cls.codes
}


def error_for(
    code: int | None,
    *,
    subcode: int | None = None,
    message: str = "",
    title: str = "",
    details: str = "",
    http_status: int | None = None,
    transient: bool | None = None,
    fbtrace_id: str = "",
) -> WhatsAppError:
    """The typed error for Meta's ``code`` (or for an HTTP 5xx without one)."""
    cls = _BY_CODE.get(code) if code is not None else None
    if cls is None and http_status == 429:
        cls = RateLimited
    if cls is None:
        cls = ServiceUnavailable if (http_status or 0) >= 500 else WhatsAppError
    if cls is ServiceUnavailable or cls is RateLimited:
        transient = True  # Meta's is_transient flag is unreliable for throttling and outages
    return cls(
        message,
        code=code,
        subcode=subcode,
        title=title,
        details=details,
        http_status=http_status,
        transient=transient,
        fbtrace_id=fbtrace_id,
    )


def error_from_body(body: object, *, http_status: int | None = None) -> WhatsAppError:
    """Build the typed error from a Graph error response body (``{"error": {...}}``)."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return error_for(None, http_status=http_status, message=f"HTTP {http_status}")
    data = error.get("error_data") if isinstance(error.get("error_data"), dict) else {}
    code = error.get("code")
    subcode = error.get("error_subcode")
    transient = error.get("is_transient")
    return error_for(
        code if isinstance(code, int) else None,
        subcode=subcode if isinstance(subcode, int) else None,
        message=str(error.get("message") or ""),
        title=str(error.get("error_user_title") or ""),
        # Meta's error_user_msg is written for people; details is for developers.
        details=str(error.get("error_user_msg") or data.get("details") or ""),
        http_status=http_status,
        transient=transient if isinstance(transient, bool) else None,
        fbtrace_id=str(error.get("fbtrace_id") or ""),
    )
