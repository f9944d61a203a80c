"""Security headers on every answer, a docs policy that lets the docs load, and CORS as
configured: listed origins only, never a wildcard together with credentials."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from services.api.security_headers import API_POLICY, relative_location
from tests.support.processes import ApiServer, start_api_server

ALLOWED_ORIGIN = "https://desk.example.com"
COMMON = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def _assert_secured(response: httpx.Response) -> None:
    for name, value in COMMON.items():
        assert response.headers.get(name) == value, name


def test_a_data_answer_carries_the_security_headers(agent: httpx.Client) -> None:
    response = agent.get("/tickets/TKT-001")
    assert response.status_code == 200
    _assert_secured(response)
    assert response.headers["Content-Security-Policy"] == API_POLICY
    assert response.headers["Cache-Control"] == "no-store"
    # HSTS belongs behind TLS: off unless configured.
    assert "Strict-Transport-Security" not in response.headers


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", "/tickets/999999", None, 404),
        ("POST", "/tickets", b"{broken", 400),
        ("POST", "/tickets", b"x" * 2_000_000, 413),
        ("DELETE", "/statuses", None, 405),
    ],
)
def test_error_answers_carry_them_too(
    agent: httpx.Client, method: str, path: str, body: bytes | None, status: int
) -> None:
    response = agent.request(
        method, path, content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == status
    _assert_secured(response)
    assert response.headers["Content-Security-Policy"] == API_POLICY
    assert response.headers["Cache-Control"] == "no-store"


def test_an_unauthenticated_answer_carries_them(anonymous: httpx.Client) -> None:
    response = anonymous.get("/tickets")
    assert response.status_code == 401
    _assert_secured(response)


def _policy(response: httpx.Response) -> dict[str, list[str]]:
    directives = response.headers["Content-Security-Policy"].split(";")
    return {
        name: sources
        for name, *sources in (directive.split() for directive in directives if directive.strip())
    }


def _allows(sources: list[str], url: str) -> bool:
    if not url.startswith("http"):
        return "'self'" in sources
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" in sources


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_docs_pages_policy_lets_their_assets_load(agent: httpx.Client, path: str) -> None:
    page = agent.get(path)
    assert page.status_code == 200
    _assert_secured(page)
    policy = _policy(page)
    scripts = re.findall(r'<script src="([^"]+)"', page.text)
    styles = re.findall(r'<link[^>]*href="([^"]+)"[^>]*rel="stylesheet"', page.text)
    styles += re.findall(r'<link[^>]*rel="stylesheet"[^>]*href="([^"]+)"', page.text)
    icons = re.findall(r'<link rel="shortcut icon" href="([^"]+)"', page.text)
    assert scripts, page.text
    assert all(_allows(policy["script-src"], url) for url in scripts), scripts
    assert all(_allows(policy["style-src"], url) for url in styles), styles
    assert all(_allows(policy["img-src"], url) for url in icons), icons
    # Each page sets itself up with an inline script or style, and fetches the schema.
    assert "'unsafe-inline'" in policy["script-src"]
    assert "'unsafe-inline'" in policy["style-src"]
    assert "'self'" in policy["connect-src"]
    assert policy["frame-ancestors"] == ["'none'"]


def test_the_api_policy_allows_nothing_to_run() -> None:
    assert "default-src 'none'" in API_POLICY
    assert "frame-ancestors 'none'" in API_POLICY


# --- CORS -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cors_server(seeded_database: str) -> Iterator[ApiServer]:
    server = start_api_server(
        env={
            "DATABASE_URL": seeded_database,
            "CORS_ORIGINS": f"{ALLOWED_ORIGIN}, https://admin.example.com",
            "HSTS_MAX_AGE_SECONDS": "31536000",
        }
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def wildcard_server(seeded_database: str) -> Iterator[ApiServer]:
    server = start_api_server(env={"DATABASE_URL": seeded_database, "CORS_ORIGINS": "*"})
    yield server
    server.stop()


def _preflight(server: ApiServer, origin: str) -> httpx.Response:
    return httpx.options(
        f"{server.base_url}/tickets",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


def test_a_preflight_from_a_listed_origin_is_allowed_with_credentials(
    cors_server: ApiServer,
) -> None:
    response = _preflight(cors_server, ALLOWED_ORIGIN)
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    allowed_headers = response.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed_headers
    _assert_secured(response)


def test_a_preflight_from_another_origin_gets_no_cors_headers(cors_server: ApiServer) -> None:
    response = _preflight(cors_server, "https://evil.example.net")
    assert response.status_code == 400
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_a_listed_origin_can_read_the_answer_and_its_headers(
    cors_server: ApiServer, api_keys: dict[str, str]
) -> None:
    response = httpx.get(
        f"{cors_server.base_url}/tickets/TKT-001",
        headers={"Origin": ALLOWED_ORIGIN, "Authorization": f"Bearer {api_keys['agent']}"},
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    exposed = {
        name.strip().lower()
        for name in response.headers["Access-Control-Expose-Headers"].split(",")
    }
    assert {"etag", "ratelimit-remaining", "ratelimit-reset", "retry-after"} <= exposed
    assert "Origin" in response.headers["Vary"]


def test_another_origin_gets_no_cors_headers(
    cors_server: ApiServer, api_keys: dict[str, str]
) -> None:
    response = httpx.get(
        f"{cors_server.base_url}/tickets/TKT-001",
        headers={
            "Origin": "https://evil.example.net",
            "Authorization": f"Bearer {api_keys['agent']}",
        },
    )
    assert response.status_code == 200
    assert not any(name.lower().startswith("access-control-") for name in response.headers)


def test_hsts_is_sent_when_configured(cors_server: ApiServer) -> None:
    response = httpx.get(f"{cors_server.base_url}/health")
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_a_wildcard_origin_never_comes_with_credentials(
    wildcard_server: ApiServer, api_keys: dict[str, str]
) -> None:
    answer = httpx.get(
        f"{wildcard_server.base_url}/tickets/TKT-001",
        headers={
            "Origin": "https://anyone.example.org",
            "Authorization": f"Bearer {api_keys['agent']}",
        },
    )
    preflight = _preflight(wildcard_server, "https://anyone.example.org")
    assert answer.status_code == 200
    assert preflight.status_code == 200
    for response in (answer, preflight):
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "Access-Control-Allow-Credentials" not in response.headers


def test_without_cors_origins_no_cors_headers_are_sent(agent: httpx.Client) -> None:
    response = agent.get("/tickets/TKT-001", headers={"Origin": ALLOWED_ORIGIN})
    assert response.status_code == 200
    assert not any(name.lower().startswith("access-control-") for name in response.headers)


# --- Redirects ------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8443"])
def test_a_redirect_never_names_the_requests_host(api_server: ApiServer, host: str) -> None:
    with httpx.Client(base_url=api_server.base_url, timeout=10) as client:
        redirected = client.get("/tickets/?limit=5", headers={"Host": host})
    assert redirected.status_code == 307
    assert redirected.headers["Location"] == "/tickets?limit=5"


def test_a_redirect_stays_on_this_server() -> None:
    assert relative_location("http://evil.example/tickets?x=1") == "/tickets?x=1"
    # Browsers read these as another host: the path keeps one leading slash.
    assert relative_location("//evil.example/tickets") == "/tickets"
    assert relative_location("http://h//evil.example/") == "/evil.example/"
    assert relative_location("/\\evil.example") == "/evil.example"
    assert relative_location("/tickets/") == "/tickets/"
