"""What keeps webhooks safe: signing secrets, Standard Webhooks signatures, and the refusal
of URLs that point into private networks (checked at registration and again at delivery)."""

from __future__ import annotations

import base64
import ipaddress
import secrets
import socket
from datetime import datetime
from urllib.parse import SplitResult, urlsplit

from standardwebhooks.webhooks import Webhook

from shared.errors import InvalidInput

SECRET_PREFIX = "whsec_"
_SECRET_BYTES = 32

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def new_signing_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


def signature_header(secrets_in_use: list[str], *, msg_id: str, at: datetime, body: str) -> str:
    """`webhook-signature`: one `v1,<base64>` per secret, space-separated."""
    return " ".join(Webhook(secret).sign(msg_id, at, body) for secret in secrets_in_use)


class UnsafeUrl(InvalidInput):
    title = "Webhook URL refused"


def parse_webhook_url(url: str) -> SplitResult:
    """http(s), a host, no credentials."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"}:
        raise UnsafeUrl("webhook URLs must use http or https", field="url")
    if not parts.hostname:
        raise UnsafeUrl("the webhook URL has no host", field="url")
    if parts.username or parts.password:
        raise UnsafeUrl("the webhook URL must not carry credentials", field="url")
    try:
        _ = parts.port
    except ValueError:
        raise UnsafeUrl("the webhook URL has an invalid port", field="url") from None
    return parts


def is_forbidden_address(address: IpAddress) -> bool:
    """Private, loopback, link-local, multicast, reserved or unspecified (IPv4-mapped too)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def check_addresses(host: str, addresses: list[str]) -> None:
    for text in addresses:
        if is_forbidden_address(ipaddress.ip_address(text.split("%", 1)[0])):
            raise UnsafeUrl(
                f"{host} resolves to {text}, a private, loopback, link-local or multicast "
                "address; webhooks go to public addresses only",
                field="url",
            )


def resolve(host: str, port: int) -> list[str]:
    """The addresses a host name resolves to (an IP literal resolves to itself)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def check_url_at_registration(url: str, *, allow_private: bool) -> None:
    """Refuse a URL whose host resolves to a forbidden address. A host that does not resolve
    (yet) is accepted: it is checked again before every delivery."""
    parts = parse_webhook_url(url)
    if allow_private:
        return
    host = parts.hostname or ""
    try:
        addresses = resolve(host, parts.port or (443 if parts.scheme == "https" else 80))
    except OSError:
        return
    check_addresses(host, addresses)
