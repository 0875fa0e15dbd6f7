"""The transports, one per medium, keyed on ``Channel.kind`` (docs/architecture.md).

The desk never names a medium's package: it asks ``for_channel(channel)`` (or ``get(kind)``)
and talks to the ``Transport`` it gets. A medium registers its transport once, from its app's
``AppConfig.ready`` (WhatsApp's: ``channels_app.apps``), so adding one means adding a package
that implements ``base.Transport`` and registering it; nothing else in the desk changes.
"""

from __future__ import annotations

from channels_app.transports.base import (
    ContactIdentity,
    Download,
    InboundMessage,
    MalformedRequest,
    MediaInfo,
    Outgoing,
    SendResult,
    Transport,
)

__all__ = [
    "ContactIdentity",
    "Download",
    "InboundMessage",
    "MalformedRequest",
    "MediaInfo",
    "Outgoing",
    "SendResult",
    "Transport",
    "UnknownTransport",
    "for_channel",
    "get",
    "kinds",
    "only",
    "register",
    "unregister",
]

_REGISTRY: dict[str, Transport] = {}


class UnknownTransport(LookupError):
    """No transport is registered for this kind of channel."""


def register(transport: Transport) -> Transport:
    """Make ``transport`` the one of its ``kind``. Registering the same class again replaces it
    (an app's ready() may run twice); another class for a taken kind is refused, so two media
    never fight over a kind."""
    current = _REGISTRY.get(transport.kind)
    if current is not None and type(current) is not type(transport):
        raise ValueError(f"a transport for {transport.kind!r} is already registered")
    _REGISTRY[transport.kind] = transport
    return transport


def unregister(kind: str) -> None:
    _REGISTRY.pop(kind, None)


def get(kind: str) -> Transport:
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise UnknownTransport(kind) from None


def for_channel(channel) -> Transport:
    """The transport of ``channel``'s medium (by its ``kind``: no query)."""
    return get(channel.kind)


def kinds() -> list[str]:
    return sorted(_REGISTRY)


def only() -> Transport | None:
    """The one registered transport, while there is exactly one (None otherwise): a channel of
    another kind could not work at all, so a caller without the channel at hand may use it."""
    return next(iter(_REGISTRY.values())) if len(_REGISTRY) == 1 else None
