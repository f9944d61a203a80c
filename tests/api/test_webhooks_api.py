"""The subscriptions API: admins only, safe URLs only, secrets shown when they matter."""

from __future__ import annotations

import base64
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from shared.models import WebhookEndpoint
from tests.helpers import new_ticket, problem_of
from tests.support.databases import tickets_write_lock
from tests.support.processes import start_api_server, wait_until

PUBLIC_URL = "http://93.184.216.34/hooks/ticketing"


def _endpoint_rows(db: Session) -> list[Any]:
    db.rollback()
    return list(db.execute(select(WebhookEndpoint.__table__).order_by(WebhookEndpoint.id)).all())


def _create(admin: httpx.Client, **body: object) -> dict[str, object]:
    response = admin.post("/webhooks", json={"url": PUBLIC_URL, **body})
    assert response.status_code == 201, response.text
    return dict(response.json())


@pytest.mark.parametrize("role", ["agent", "customer"])
def test_only_admins_manage_webhooks(clients: dict[str, httpx.Client], role: str) -> None:
    client = clients[role]
    assert client.get("/webhooks").status_code == 403
    problem_of(client.post("/webhooks", json={"url": PUBLIC_URL}))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://0.0.0.0/hook",
        "http://224.0.0.1/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://100.100.100.200/latest/meta-data",  # shared address space: a metadata service
        "http://100.64.0.1/hook",
        "http://[fec0::1]/hook",  # site-local
        "http://[2002:a00:1::1]/hook",  # 6to4 of 10.0.0.1
        "http://[2002:a9fe:a9fe::1]/hook",  # 6to4 of 169.254.169.254
        "http://[64:ff9b::a9fe:a9fe]/hook",  # NAT64 of 169.254.169.254
        "http://[64:ff9b:1::a00:1]/hook",  # local-use NAT64
        "http://[::10.0.0.1]/hook",  # IPv4-compatible
        "http://[::ffff:100.64.0.1]/hook",
    ],
)
def test_urls_into_private_networks_are_refused(admin: httpx.Client, url: str) -> None:
    response = admin.post("/webhooks", json={"url": url})
    assert response.status_code == 422
    assert problem_of(response)["errors"][0]["field"] == "url"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://93.184.216.34/x",
        "93.184.216.34/x",
        "http:///x",
        "http://u:p@93.184.216.34/x",
        "http://@93.184.216.34/x",
        "http://[::1/x",
        "http://[93.184.216.34]/x",
        f"http://{'a' * 64}.example.com/x",
        f"http://{'.'.join(['a' * 63] * 4)}/x",
        "http://a..example.com/x",
        "http://93.184.216.34:99999/x",
        "http://93.184.216.34:0/x",
        "http://93.184.216.34:eighty/x",
        "http://93.184.216.34/a b",
        " http://93.184.216.34/x",
        "http://93.184.216.34/x\u0000",
        "http://93.184.216.34/x\u0085",
    ],
)
def test_malformed_or_non_http_urls_are_422_and_store_nothing(
    admin: httpx.Client, db: Session, url: str
) -> None:
    before = _endpoint_rows(db)
    response = admin.post("/webhooks", json={"url": url})
    assert response.status_code == 422, response.text
    assert problem_of(response)["errors"][0]["field"] == "url"
    assert _endpoint_rows(db) == before


def test_a_malformed_url_in_a_change_is_422_and_changes_nothing(
    admin: httpx.Client, db: Session
) -> None:
    endpoint = _create(admin)
    before = _endpoint_rows(db)
    response = admin.patch(f"/webhooks/{endpoint['id']}", json={"url": "http://[::1/x"})
    assert response.status_code == 422, response.text
    assert _endpoint_rows(db) == before


def test_a_host_that_does_not_resolve_is_refused_at_once(admin: httpx.Client, db: Session) -> None:
    before = _endpoint_rows(db)
    started = time.monotonic()
    response = admin.post("/webhooks", json={"url": "https://hooks.example.invalid/ticketing"})
    assert response.status_code == 422, response.text
    assert "does not resolve" in problem_of(response)["detail"]
    assert time.monotonic() - started < 5
    assert _endpoint_rows(db) == before


def _lock_waits(db: Session) -> int:
    db.rollback()
    return int(db.scalar(text("SELECT count(*) FROM pg_locks WHERE NOT granted")) or 0)


def test_a_registration_resolves_its_host_before_taking_the_write_turn(
    admin: httpx.Client, agent: httpx.Client, db: Session, database_url: str
) -> None:
    """While a ticket's write waits for the database (holding this process's turn to write),
    a registration whose host does not resolve is still refused at once: the DNS lookup (and
    the authentication) happen before the write transaction, not inside it."""
    before = _endpoint_rows(db)
    with ThreadPoolExecutor(max_workers=1) as pool, tickets_write_lock(database_url):
        waiting_ticket = pool.submit(new_ticket, agent)
        if not database_url.startswith("sqlite"):
            wait_until(lambda: _lock_waits(db) > 0, timeout=10, what="the ticket to wait")
        response = admin.post(
            "/webhooks", json={"url": "https://hooks.example.invalid/x"}, timeout=10
        )
        assert response.status_code == 422, response.text
        assert not waiting_ticket.done()
    assert waiting_ticket.result(timeout=30)["id"]
    assert _endpoint_rows(db) == before


def test_a_resolution_past_its_timeout_is_503_to_retry_and_stores_nothing(
    seeded_database: str, api_keys: dict[str, str], db: Session
) -> None:
    # A timeout shorter than any resolver's answer: the DNS wait is given up on, not waited.
    server = start_api_server(
        env={"DATABASE_URL": seeded_database, "WEBHOOK_DNS_TIMEOUT_SECONDS": "0.000000001"}
    )
    try:
        before = _endpoint_rows(db)
        response = httpx.post(
            f"{server.base_url}/webhooks",
            json={"url": "https://hooks.example.invalid/x"},
            headers={"Authorization": f"Bearer {api_keys['admin']}"},
        )
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"]
        assert problem_of(response)["errors"][0]["field"] == "url"
        # An address needs no DNS: it is checked, and registered, as ever.
        response = httpx.post(
            f"{server.base_url}/webhooks",
            json={"url": PUBLIC_URL},
            headers={"Authorization": f"Bearer {api_keys['admin']}"},
        )
        assert response.status_code == 201, response.text
        assert len(_endpoint_rows(db)) == len(before) + 1
    finally:
        server.stop()


def test_unknown_event_types_are_refused(admin: httpx.Client) -> None:
    response = admin.post("/webhooks", json={"url": PUBLIC_URL, "event_types": ["ticket.eaten"]})
    assert response.status_code == 422


def test_a_new_endpoint_comes_with_a_strong_signing_secret(admin: httpx.Client) -> None:
    endpoint = _create(admin, event_types=["ticket.created"], description="CRM sync")
    secret = str(endpoint["secret"])
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) >= 24
    assert endpoint["enabled"] is True
    listed = admin.get("/webhooks").json()
    assert all("secret" not in item for item in listed)
    assert admin.get(f"/webhooks/{endpoint['id']}").json()["secret"] == secret


def test_an_endpoint_can_be_changed_and_deleted(admin: httpx.Client) -> None:
    endpoint = _create(admin)
    changed = admin.patch(
        f"/webhooks/{endpoint['id']}", json={"event_types": ["ticket.resolved"]}
    ).json()
    assert changed["event_types"] == ["ticket.resolved"]
    assert (
        admin.patch(f"/webhooks/{endpoint['id']}", json={"url": "http://127.0.0.1/x"}).status_code
        == 422
    )
    assert admin.delete(f"/webhooks/{endpoint['id']}").status_code == 204
    assert admin.get(f"/webhooks/{endpoint['id']}").status_code == 404


def test_a_test_event_is_queued_as_a_pending_delivery(admin: httpx.Client) -> None:
    endpoint = _create(admin)
    queued = admin.post(f"/webhooks/{endpoint['id']}/test")
    assert queued.status_code == 202
    assert queued.json()["event_type"] == "webhook.test"
    deliveries = admin.get(f"/webhooks/{endpoint['id']}/deliveries").json()
    assert deliveries["total"] == 1
    assert deliveries["items"][0]["status"] == "pending"


def test_redelivering_an_unknown_delivery_is_404(admin: httpx.Client) -> None:
    endpoint = _create(admin)
    response = admin.post(f"/webhooks/{endpoint['id']}/deliveries/999999/redeliver")
    assert response.status_code == 404
    problem_of(response)


def test_unknown_endpoint_is_404(admin: httpx.Client) -> None:
    assert admin.get("/webhooks/999999").status_code == 404
    assert admin.post("/webhooks/999999/rotate-secret").status_code == 404
