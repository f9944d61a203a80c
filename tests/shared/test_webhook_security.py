"""Which webhook addresses are public, and which URLs are well formed (no network needed)."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from shared.webhook_security import (
    ResolutionUnavailable,
    UnsafeUrl,
    check_url_at_registration,
    is_public_address,
    parse_webhook_url,
)


@pytest.mark.parametrize(
    "address",
    [
        "100.64.0.1",  # shared address space (carrier-grade NAT)
        "100.100.100.200",  # a cloud metadata service lives here
        "10.0.0.1",
        "127.0.0.1",
        "169.254.169.254",
        "0.0.0.0",
        "224.0.0.1",  # multicast: "global" to ipaddress, never a webhook receiver
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "fec0::1",  # site-local: "global" to ipaddress
        "ff02::1",
        "2001:db8::1",
        "::ffff:10.0.0.1",  # IPv4-mapped
        "::ffff:100.64.0.1",
        "::10.0.0.1",  # IPv4-compatible
        "::127.0.0.1",
        "2002:a00:1::1",  # 6to4 of 10.0.0.1
        "2002:6440:1::1",  # 6to4 of 100.64.0.1
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "64:ff9b:1::5db8:d822",  # local-use NAT64: never public, whatever it embeds
    ],
)
def test_addresses_outside_the_public_internet_are_not_public(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address",
    [
        "93.184.216.34",
        "2606:4700::1",
        "::ffff:93.184.216.34",
        "2002:5db8:d822::1",  # 6to4 of 93.184.216.34
        "64:ff9b::5db8:d822",  # NAT64 (DNS64) of 93.184.216.34
    ],
)
def test_public_addresses_and_their_ipv6_forms_are_public(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))


LONG_LABEL = "a" * 64
LONG_HOST = ".".join(["a" * 63] * 4)  # 255 characters


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1/hook",  # unbalanced brackets
        "http://::1]/hook",
        "http://[93.184.216.34]/hook",  # a bracketed IPv4 address
        "http://[fe80::1%25eth0]/hook",
        "http://[not-an-address]/hook",
        f"http://{LONG_LABEL}.example.com/hook",
        f"http://{LONG_HOST}/hook",
        "http://a..example.com/hook",
        "http://.example.com/hook",
        "http://-example.com/hook",
        "http://exa%41mple.com/hook",
        "http://exa mple.com/hook",
        " http://example.com/hook",
        "http://example.com/ho ok",
        "http://example.com/hook\t",
        "http://example.com/\x00",
        "http://exa\x7fmple.com/",
        "http://example.com\u3000/hook",  # an ideographic space
        "http://example.com:99999/hook",
        "http://example.com:0/hook",
        "http://example.com:+80/hook",
        "http://example.com:http/hook",
        "http://user:pass@example.com/hook",
        "http://user@example.com/hook",
        "http://@example.com/hook",
        "http://\u200b/hook",
        "ftp://example.com/hook",
        "http:///hook",
        "example.com/hook",
    ],
)
def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeUrl):
        parse_webhook_url(url)


def test_a_well_formed_url_gives_the_host_as_the_notifier_resolves_it() -> None:
    target = parse_webhook_url("https://Bücher.Example.com.:8443/hooks?x=1")
    assert (target.scheme, target.host, target.port) == (
        "https",
        "xn--bcher-kva.example.com.",
        8443,
    )
    assert parse_webhook_url("http://[2606:4700::1]/").host == "2606:4700::1"
    assert parse_webhook_url(f"http://{'a' * 63}.com/").port == 80


def _register(url: str, *, timeout: float = 2.0) -> None:
    asyncio.run(check_url_at_registration(url, allow_private=False, timeout=timeout))


def test_a_name_that_does_not_exist_is_refused_quickly() -> None:
    # .invalid never resolves (RFC 6761): refused at once, with or without a network.
    with pytest.raises(UnsafeUrl, match="does not resolve"):
        _register("https://hooks.example.invalid/ticketing", timeout=5)


def test_a_resolution_past_the_timeout_is_a_temporary_failure() -> None:
    # A deadline that has passed before the resolver answers, however fast it is.
    with pytest.raises(ResolutionUnavailable):
        _register("https://hooks.example.invalid/ticketing", timeout=1e-9)


def test_an_address_literal_is_checked_without_dns() -> None:
    _register("http://93.184.216.34/hook")
    with pytest.raises(UnsafeUrl, match="not a public"):
        _register("http://100.100.100.200/latest/meta-data")
    with pytest.raises(UnsafeUrl, match="not a public"):
        _register("http://[64:ff9b::a9fe:a9fe]/latest/meta-data")
