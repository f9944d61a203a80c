"""GET /metrics: requests by route template and status, their latency, the outbox backlog;
for an admin's key or the metrics token only."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.models import OutboxEvent
from shared.publishing import PUBLISHER_LOCK
from shared.settings import Settings
from tests.helpers import new_ticket, problem_of
from tests.support.metrics import scrape, value
from tests.support.processes import ApiServer, start_api_server, wait_until
from tests.support.redis_server import RedisServer

TICKET_ROUTE = "/tickets/{ticket_ref}"
TOKEN = "a-metrics-token-long-enough-not-to-be-guessed"


def _metrics(client: httpx.Client) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Scraped with `client`'s key (an admin's)."""
    authorization = {"Authorization": client.headers["Authorization"]}
    return scrape(f"{client.base_url}/metrics", headers=authorization)


def test_metrics_are_served_to_an_admins_key(admin: httpx.Client) -> None:
    response = admin.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "ticketing_http_requests_total" in response.text


def test_metrics_need_a_key(anonymous: httpx.Client) -> None:
    refused = anonymous.get("/metrics")
    assert refused.status_code == 401
    assert problem_of(refused)["status"] == 401
    assert "ticketing_" not in refused.text


@pytest.mark.parametrize("role", ["customer", "agent"])
def test_metrics_refuse_other_roles_keys(role: str, clients: dict[str, httpx.Client]) -> None:
    refused = clients[role].get("/metrics")
    assert refused.status_code == 403
    assert "ticketing_" not in problem_of(refused)["detail"]


@pytest.fixture(scope="module")
def server_with_metrics_token(seeded_database: str) -> Iterator[ApiServer]:
    server = start_api_server(env={"DATABASE_URL": seeded_database, "METRICS_TOKEN": TOKEN})
    yield server
    server.stop()


def test_the_metrics_token_reads_metrics(server_with_metrics_token: ApiServer) -> None:
    url = f"{server_with_metrics_token.base_url}/metrics"
    samples = scrape(url, headers={"Authorization": f"Bearer {TOKEN}"})
    assert "ticketing_http_requests_total" in samples
    wrong = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN[:-1]}x"}, timeout=10)
    assert wrong.status_code == 401


def test_a_short_metrics_token_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="metrics_token"):
        Settings(metrics_token="guessable")


def test_metrics_are_not_part_of_the_api_schema(anonymous: httpx.Client) -> None:
    assert "/metrics" not in anonymous.get("/openapi.json").json()["paths"]


def test_requests_are_counted_by_route_template_method_and_status(
    agent: httpx.Client, admin: httpx.Client
) -> None:
    before = _metrics(admin)
    assert agent.get("/tickets/TKT-001").status_code == 200
    assert agent.get("/tickets/999999").status_code == 404
    after = _metrics(admin)

    def counted(samples: dict[str, list[tuple[dict[str, str], float]]], status: str) -> float:
        return value(
            samples,
            "ticketing_http_requests_total",
            route=TICKET_ROUTE,
            method="GET",
            status=status,
        )

    assert counted(after, "200") - counted(before, "200") == 1
    assert counted(after, "404") - counted(before, "404") == 1


def test_raw_paths_never_become_route_labels(agent: httpx.Client, admin: httpx.Client) -> None:
    agent.get("/tickets/TKT-002")
    agent.get("/tickets/987654321/history")
    agent.get("/no-such-page/5551234")
    routes = {
        labels["route"]
        for labels, _value in _metrics(admin).get("ticketing_http_requests_total", [])
    }
    assert {TICKET_ROUTE, "/tickets/{ticket_ref}/history", "unmatched"} <= routes
    assert not [route for route in routes if "TKT-002" in route or "987654321" in route]
    assert not [route for route in routes if "5551234" in route or "no-such-page" in route]


def test_request_latency_is_a_histogram_by_route_and_method(
    agent: httpx.Client, admin: httpx.Client
) -> None:
    name = "ticketing_http_request_duration_seconds"
    before = value(_metrics(admin), f"{name}_count", route=TICKET_ROUTE, method="GET")
    agent.get("/tickets/TKT-001")
    samples = _metrics(admin)
    assert value(samples, f"{name}_count", route=TICKET_ROUTE, method="GET") == before + 1
    assert value(samples, f"{name}_sum", route=TICKET_ROUTE, method="GET") > 0
    everything = value(samples, f"{name}_bucket", route=TICKET_ROUTE, method="GET", le="+Inf")
    assert everything == before + 1


@pytest.fixture
def publishing_held_back(redis_server: RedisServer) -> Iterator[None]:
    """Another publisher holds the lock: the API's events wait in the outbox meanwhile."""
    redis = redis_server.client()
    wait_until(
        lambda: redis.set(PUBLISHER_LOCK, "held-by-the-test", nx=True, px=30_000),
        timeout=10,
        what="the API's publisher to let go of the lock",
    )
    yield
    redis.delete(PUBLISHER_LOCK)


@pytest.mark.usefixtures("publishing_held_back")
def test_the_outbox_backlog_is_measured_when_scraped(
    agent: httpx.Client, admin: httpx.Client, db: Session
) -> None:
    new_ticket(agent)
    unpublished = db.scalar(
        select(func.count()).select_from(OutboxEvent).where(OutboxEvent.published_at.is_(None))
    )
    samples = _metrics(admin)
    assert unpublished
    assert value(samples, "ticketing_outbox_unpublished_events") == unpublished
    assert value(samples, "ticketing_outbox_oldest_unpublished_age_seconds") > 0


def test_an_empty_outbox_has_no_age(agent: httpx.Client, admin: httpx.Client) -> None:
    new_ticket(agent)  # published right after its commit

    def drained() -> bool:
        return value(_metrics(admin), "ticketing_outbox_unpublished_events") == 0

    wait_until(drained, timeout=10, what="the outbox to be published")
    assert value(_metrics(admin), "ticketing_outbox_oldest_unpublished_age_seconds") == 0
