"""Where the desk may send integrators' webhooks: public internet addresses only (docs/security.md).

An API token holder chooses the URL, so without this the desk could be made to POST to its own
loopback services, the cloud metadata address (169.254.169.254), RFC 1918 / unique-local
networks or multicast. Two checks, one rule (``is_public``):

- ``check_url`` when a subscription is created or changed: https (outside DEBUG), and a host that
  is an IP literal outside the public ranges, or a name whose every address is, is refused.
  A name that does not resolve now is accepted (DNS may come later); delivery checks again.
- ``resolve`` before every delivery: the host's addresses now; if ANY is not public the delivery
  is refused (DNS rebinding: a name may answer differently each time). The caller connects to
  the vetted address it returns (pinned), with Host and TLS SNI set to the URL's name.

``API_WEBHOOK_ALLOW_PRIVATE`` (default: DEBUG) switches both off for a local receiver.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext as _

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class RefusedDestination(ValueError):
    """A webhook URL the desk does not send to; the message says why (translated)."""


class Unresolvable(OSError):
    """The host does not resolve right now (a delivery retries later)."""


def is_public(address: Address) -> bool:
    """A globally routable unicast address (not loopback, link-local, private, reserved, …)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _port(parts) -> int:
    try:
        port = parts.port
    except ValueError as error:
        raise RefusedDestination(_("The webhook URL has an invalid port.")) from error
    return port or (443 if parts.scheme == "https" else 80)


def _addresses(host: str, port: int) -> list[Address]:
    """The host's addresses (raises OSError when it does not resolve)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[Address] = []
    for *_rest, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


def _refused(host: str) -> RefusedDestination:
    return RefusedDestination(
        _(
            "The webhook URL's host %(host)s is or resolves to a private, loopback, link-local "
            "or otherwise non-public address; the desk only sends webhooks to public addresses."
        )
        % {"host": host}
    )


def check_url(url: str) -> None:
    """Refuse a subscription URL the desk would never deliver to (RefusedDestination)."""
    parts = urlsplit(url)
    if settings.API_WEBHOOK_REQUIRE_HTTPS and parts.scheme.lower() != "https":
        raise RefusedDestination(_("The webhook URL must start with https://."))
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise RefusedDestination(_("The webhook URL must be an http(s) URL with a host."))
    if settings.API_WEBHOOK_ALLOW_PRIVATE:
        return
    host = parts.hostname
    literal = _literal(host)
    if literal is not None:
        if not is_public(literal):
            raise _refused(host)
        return
    try:
        addresses = _addresses(host, _port(parts))
    except (OSError, UnicodeError):
        return  # not resolvable now; every delivery resolves and checks again
    if addresses and not any(is_public(a) for a in addresses):
        raise _refused(host)


@dataclass(frozen=True)
class Destination:
    """Where one delivery goes: the URL with the vetted address in place of the name."""

    url: str  # the pinned URL (the IP address as host)
    host_header: str  # the URL's original host[:port], sent as Host
    sni_hostname: str | None  # the name for TLS (SNI and certificate check); None for IPs


def resolve(url: str) -> Destination:
    """Resolve the URL's host now, refuse it if any address is not public, pin the first."""
    parts = urlsplit(url)
    host = parts.hostname
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise RefusedDestination(_("The webhook URL must be an http(s) URL with a host."))
    port = _port(parts)
    literal = _literal(host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            addresses = _addresses(host, port)
        except (OSError, UnicodeError) as error:
            raise Unresolvable(f"{host} does not resolve") from error
    if not settings.API_WEBHOOK_ALLOW_PRIVATE and not all(is_public(a) for a in addresses):
        raise _refused(host)
    pinned = addresses[0]
    ip_host = f"[{pinned}]" if pinned.version == 6 else str(pinned)
    userinfo, at, _hostport = parts.netloc.rpartition("@")
    netloc = f"{userinfo}{at}{ip_host}:{port}"  # user:pass@ kept (httpx's basic auth)
    default_port = 443 if parts.scheme.lower() == "https" else 80
    host_header = host if port == default_port else f"{host}:{port}"
    if ":" in host:  # an IPv6 literal keeps its brackets in Host
        host_header = f"[{host}]" if port == default_port else f"[{host}]:{port}"
    pinned_url = parts._replace(netloc=netloc).geturl()
    return Destination(
        url=pinned_url,
        host_header=host_header,
        sni_hostname=None if literal is not None else host,
    )
