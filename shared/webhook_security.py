"""What keeps webhooks safe: signing secrets, Standard Webhooks signatures, and the refusal
of URLs that are malformed or point anywhere but the public internet (checked at registration
and again before every delivery)."""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import re
import secrets
import socket
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import httpx
from standardwebhooks.webhooks import Webhook

from shared.errors import InvalidInput, Unavailable

SECRET_PREFIX = "whsec_"
_SECRET_BYTES = 32

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# DNS limits (RFC 1035): a label is 1-63 octets, a name at most 253 characters written out.
_MAX_LABEL = 63
_MAX_HOST = 253
# A label of a host name as it goes on the wire (IDNA already applied): letters, digits,
# hyphens inside, and the underscore some real names carry.
_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")

# IPv6 forms that carry an IPv4 address: the connection (or the relay) ends at the IPv4 one.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052, the well-known prefix
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # RFC 4291, deprecated
# RFC 8215: a NAT64 prefix for one network's own use, never a public destination.
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


def new_signing_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


def signature_header(secrets_in_use: list[str], *, msg_id: str, at: datetime, body: str) -> str:
    """`webhook-signature`: one `v1,<base64>` per secret, space-separated."""
    return " ".join(Webhook(secret).sign(msg_id, at, body) for secret in secrets_in_use)


class UnsafeUrl(InvalidInput):
    title = "Webhook URL refused"


class ResolutionUnavailable(Unavailable):
    """The URL's host could not be resolved for a reason that may pass (a timeout, a DNS
    server failing): the client should try again, nothing is wrong with the URL as far as
    we know."""

    title = "Webhook URL not checked"


@dataclass(frozen=True)
class WebhookTarget:
    """A webhook URL's scheme, host (IDNA-encoded, or an IP address without brackets) and
    port: what the notifier resolves and connects to."""

    scheme: str
    host: str
    port: int


def _refuse(reason: str) -> UnsafeUrl:
    return UnsafeUrl(f"the webhook URL {reason}", field="url")


def parse_webhook_url(url: str) -> WebhookTarget:
    """An http(s) URL with a well-formed host and port, no credentials, and no whitespace or
    control character anywhere; anything else is UnsafeUrl."""
    if any(char.isspace() or unicodedata.category(char) == "Cc" for char in url):
        raise _refuse("holds whitespace or a control character")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # unbalanced brackets, a bracketed IPv4 address, a bad port
        raise _refuse(f"is malformed: {exc}") from None
    if parts.scheme not in {"http", "https"}:
        raise _refuse("must use http or https")
    if "@" in parts.netloc:
        raise _refuse("must not carry credentials")
    if port == 0:
        raise _refuse("has an invalid port: 0")
    hostname = parts.hostname
    if not hostname:
        raise _refuse("has no host")
    if "[" in parts.netloc:
        host = _ipv6_literal(hostname)
    else:
        host = _host_name(url)
    return WebhookTarget(parts.scheme, host, port or (443 if parts.scheme == "https" else 80))


def _ipv6_literal(hostname: str) -> str:
    if "%" in hostname:
        raise _refuse("names an IPv6 zone, which is never a public address")
    try:
        return str(ipaddress.IPv6Address(hostname))
    except ValueError:
        raise _refuse(f"has an invalid IPv6 address: {hostname}") from None


def _host_name(url: str) -> str:
    """The host as the notifier sends to it: httpx's reading (IDNA 2008 for non-ASCII names),
    with the DNS length limits checked label by label."""
    try:
        host = httpx.URL(url).raw_host.decode("ascii").lower()
    except (httpx.InvalidURL, UnicodeError) as exc:
        raise _refuse(f"has an invalid host: {exc}") from None
    try:
        return str(ipaddress.IPv4Address(host))
    except ValueError:
        pass
    name = host.removesuffix(".")  # one trailing dot: the root, a fully qualified name
    if len(name) > _MAX_HOST:
        raise _refuse(f"has a host name longer than {_MAX_HOST} characters")
    for label in name.split("."):
        if not label:
            raise _refuse("has an empty label in its host name")
        if len(label) > _MAX_LABEL:
            raise _refuse(f"has a host name label longer than {_MAX_LABEL} characters")
        if not _LABEL.fullmatch(label):
            raise _refuse(f"has an invalid host name label: {label}")
    return host


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for: IPv4-mapped, 6to4, NAT64 (well-known prefix)
    or IPv4-compatible; None for any other."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or address in _IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return None


def is_public_address(address: IpAddress) -> bool:
    """Globally routable unicast: not private, loopback, link-local, shared (100.64.0.0/10),
    site-local, multicast, reserved or unspecified, nor an IPv6 form of such an IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address):
        if address in _LOCAL_NAT64 or address.is_site_local:
            return False
        ipv4 = embedded_ipv4(address)
        if ipv4 is not None:
            return is_public_address(ipv4)
    return address.is_global and not (address.is_multicast or address.is_reserved)


def check_addresses(host: str, addresses: list[str]) -> None:
    """Refuse the host if any address it resolves to is not public."""
    for text in addresses:
        try:
            public = is_public_address(ipaddress.ip_address(text.split("%", 1)[0]))
        except ValueError:
            public = False
        if not public:
            raise UnsafeUrl(
                f"{host} resolves to {text}, which is not a public internet address "
                "(private, loopback, link-local, shared, multicast or reserved); "
                "webhooks go to public addresses only",
                field="url",
            )


async def resolve(target: WebhookTarget) -> list[str]:
    """The addresses the target's host resolves to now (an IP address resolves to itself,
    without a lookup: no thread, and no timeout to run out)."""
    try:
        return [str(ipaddress.ip_address(target.host))]
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(
        target.host, target.port, type=socket.SOCK_STREAM
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def check_url_at_registration(url: str, *, allow_private: bool, timeout: float) -> None:
    """Refuse a malformed URL, or one whose host does not resolve or resolves to an address
    that is not public. A resolution that times out or fails for a passing reason is
    ResolutionUnavailable (503: try again). Run it before the write transaction: a slow DNS
    server must not hold up other writes."""
    target = parse_webhook_url(url)
    if allow_private:
        return
    try:
        async with asyncio.timeout(timeout):
            addresses = await resolve(target)
    except TimeoutError:
        raise ResolutionUnavailable(
            f"resolving {target.host} took longer than {timeout:g}s; try again", field="url"
        ) from None
    except socket.gaierror as exc:
        if exc.errno == socket.EAI_AGAIN:
            raise ResolutionUnavailable(
                f"resolving {target.host} failed for now ({exc.strerror}); try again",
                field="url",
            ) from None
        raise UnsafeUrl(f"{target.host} does not resolve ({exc.strerror})", field="url") from None
    except (OSError, UnicodeError) as exc:
        raise UnsafeUrl(f"{target.host} cannot be resolved ({exc})", field="url") from None
    check_addresses(target.host, addresses)
