"""X-Request-ID: taken from the caller when sane, made up otherwise, always answered."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.helpers import problem_of

GENERATED = re.compile(r"[0-9a-f]{32}")


def test_a_callers_request_id_is_echoed(agent: httpx.Client) -> None:
    response = agent.get("/tickets/TKT-001", headers={"X-Request-ID": "lb-7f3a.19_2"})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == "lb-7f3a.19_2"


def test_a_request_without_one_gets_a_new_id(agent: httpx.Client) -> None:
    first = agent.get("/tickets/TKT-001").headers["X-Request-ID"]
    second = agent.get("/tickets/TKT-001").headers["X-Request-ID"]
    assert GENERATED.fullmatch(first)
    assert GENERATED.fullmatch(second)
    assert first != second


@pytest.mark.parametrize(
    "supplied",
    ["x" * 101, "has space", "new\\nline", 'quote"s', "<script>", "ünïcode", ""],
)
def test_an_unacceptable_request_id_is_replaced(agent: httpx.Client, supplied: str) -> None:
    response = agent.get("/tickets/TKT-001", headers={"X-Request-ID": supplied.encode("utf-8")})
    assert response.status_code == 200
    assert GENERATED.fullmatch(response.headers["X-Request-ID"])


def test_a_request_id_of_100_characters_is_kept(agent: httpx.Client) -> None:
    supplied = "a" * 100
    response = agent.get("/tickets/TKT-001", headers={"X-Request-ID": supplied})
    assert response.headers["X-Request-ID"] == supplied


def test_error_responses_carry_the_request_id(agent: httpx.Client, anonymous: httpx.Client) -> None:
    missing = agent.get("/tickets/999999", headers={"X-Request-ID": "missing-ticket"})
    problem_of(missing)
    assert missing.status_code == 404
    assert missing.headers["X-Request-ID"] == "missing-ticket"

    unknown_route = agent.get("/no-such-page", headers={"X-Request-ID": "unknown-route"})
    assert unknown_route.status_code == 404
    assert unknown_route.headers["X-Request-ID"] == "unknown-route"

    unauthenticated = anonymous.get("/tickets", headers={"X-Request-ID": "no-key"})
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["X-Request-ID"] == "no-key"


def test_a_refused_oversized_body_carries_the_request_id(agent: httpx.Client) -> None:
    response = agent.post(
        "/tickets",
        content=b"x" * 2_000_000,
        headers={"X-Request-ID": "too-big", "content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.headers["X-Request-ID"] == "too-big"
