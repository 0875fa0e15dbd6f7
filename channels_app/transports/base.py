"""The seam between the desk and one medium (issue 14; docs/architecture.md, "Transports").

A transport is everything the desk asks of a medium, keyed on ``Channel.kind``: parse and
verify an inbound request into plain events, the identity of a contact (what a message's sender
becomes, where a reply goes), the window policy (may a free-form message go out now), send a
message, upload and fetch media. WhatsApp (``channels_app.whatsapp.transport``) is the first.

The value objects here are medium-neutral and plain Python: the transports produce and take
them, the conversations' services consume them, neither side sees the other's insides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO, Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class InboundMessage:
    """One message a customer (or, for ``outbound``, the business on another device) sent.

    The transport's parser produces it and the inbound services store it as it is, on every path
    (the ORM one and PostgreSQL's one statement). ``phone_number_id`` is the channel's address at
    the provider (WhatsApp's phone number id; the ``Channel`` column of that name holds it for
    every kind); ``wa_id`` and ``bsuid`` are the sender's address and provider-scoped id on the
    medium (the ``Contact`` columns of those names), at least one of them set.
    """

    provider_message_id: str
    wa_id: str | None
    # None when the message's own timestamp could not be read: the receiver uses its clock.
    sent_at: datetime | None
    # The provider's type when parsed; the desk's (Message.Type) when handed to the services.
    # "unsupported" for anything unknown (original kept in payload); "unreadable" for a message
    # the parser could not read (its raw JSON in payload["raw"]).
    type: str
    body: str = ""
    payload: dict = field(default_factory=dict)
    reply_to_provider_id: str = ""
    media_id: str = ""
    bsuid: str | None = None
    profile_name: str = ""
    phone_number_id: str = ""
    waba_id: str = ""
    # "" for a customer's message; "echo" for what the business sent from another device
    # (WhatsApp Business app), "history" for a past chat imported on onboarding (coexistence).
    # ``outbound``: the business wrote it; wa_id/bsuid then name the customer it went to.
    source: str = ""
    outbound: bool = False


@dataclass(frozen=True)
class ContactIdentity:
    """How a message's sender is found and stored as a ``Contact`` of ``kind``: by ``wa_id``,
    else by ``bsuid``; ``phone`` is what a new contact shows as its number ("" when hidden)."""

    kind: str
    wa_id: str | None
    bsuid: str | None
    profile_name: str
    phone: str


@dataclass(frozen=True)
class Outgoing:
    """One message to send, built by the desk from a stored message, in the desk's words.

    ``kind``: "text", "template", a media kind, or a structured kind whose content is in
    ``payload`` (the stored message's payload: the transport builds its wire body from it).
    """

    to: str
    kind: str
    text: str = ""  # the text, or a media caption
    payload: Mapping[str, Any] = field(default_factory=dict)
    reply_to: str | None = None
    callback_data: str = ""
    media_id: str | None = None
    link: str | None = None
    filename: str | None = None
    voice: bool = False
    template_name: str = ""
    template_language: str = ""
    template_components: list = field(default_factory=list)


@dataclass(frozen=True)
class SendResult:
    """What the provider answered to a send: its id for the message (WhatsApp: the wamid), the
    recipient as it knows them, and its first status if it gave one."""

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


class Download(Protocol):
    """A fetched media file: a file at position 0, its size, SHA-256 digest and content type."""

    file: IO[bytes]
    size: int
    sha256: bytes
    content_type: str


class MalformedRequest(ValueError):
    """An inbound request whose envelope cannot be read; ``reason`` says where (a 400)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@runtime_checkable
class Transport(Protocol):
    """What the desk asks of a medium. One instance per kind, registered with
    ``channels_app.transports.register``; it holds no per-channel state (the channel is passed).
    """

    kind: str

    # --- an inbound request (the webhook view) -------------------------------------------------
    def handshake(self, params: Mapping[str, str]) -> tuple[int, str]:
        """A GET on the webhook (a subscription check): the status and text to answer."""

    def verify(self, raw: bytes, headers: Mapping[str, str]) -> bool:
        """Whether the request really comes from the provider (a signature over ``raw``)."""

    def load(self, raw: bytes) -> Any:
        """The body with its envelope checked; MalformedRequest when it cannot be read."""

    def count_items(self, loaded: Any) -> int:
        """How many events a loaded body holds, without reading them (the batch's size)."""

    def events(self, loaded: Any) -> list:
        """The events of a loaded body in order: InboundMessage values, and the medium's own
        (statuses, ...), one unreadable part never costing the others."""

    # --- the contact ---------------------------------------------------------------------------
    def identity(
        self, *, wa_id: str | None, bsuid: str | None, profile_name: str = ""
    ) -> ContactIdentity:
        """The contact a sender (a message's ``wa_id``/``bsuid``) is found or stored as."""

    def address_of(self, contact: Any) -> str | None:
        """Where a message to this contact goes; None when the medium cannot reach them."""

    # --- the window policy ---------------------------------------------------------------------
    def window_closes_at(self, last_inbound: datetime | None) -> datetime | None:
        """When free-form messages stop being allowed; None when they are not allowed at all."""

    def window_open(
        self, last_inbound: datetime | None, at: datetime, *, margin: timedelta = timedelta(0)
    ) -> bool:
        """Whether a free-form message may be sent at ``at`` (``margin`` before the close)."""

    # --- out ------------------------------------------------------------------------------------
    def send(self, channel: Any, message: Outgoing) -> SendResult:
        """Send one message for ``channel``; raises the medium's error (a WhatsAppError-shaped
        ``code``/``transient``/``user_message``) when refused."""

    def upload_media(self, channel: Any, *, content: bytes, mime_type: str, filename: str) -> str:
        """Upload a file for a later send; the provider's media id."""

    def fetch_media(self, channel: Any, media_id: str, *, kind: str) -> tuple[MediaInfo, Download]:
        """The facts and the file of an inbound media (within the medium's limits for
        ``kind``)."""

    def mark_read(self, channel: Any, *, message_id: str, typing: bool = False) -> None:
        """Tell the customer their messages up to ``message_id`` were read (and, ``typing``,
        that an agent is writing); a medium without read receipts does nothing."""
