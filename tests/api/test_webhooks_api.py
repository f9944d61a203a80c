"""The subscriptions API: admins only, safe URLs only, secrets shown when they matter."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.helpers import problem_of

PUBLIC_URL = "http://93.184.216.34/hooks/ticketing"


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
    ],
)
def test_urls_into_private_networks_are_refused(admin: httpx.Client, url: str) -> None:
    response = admin.post("/webhooks", json={"url": url})
    assert response.status_code == 422
    assert problem_of(response)["errors"][0]["field"] == "url"


@pytest.mark.parametrize(
    "url", ["ftp://93.184.216.34/x", "93.184.216.34/x", "http:///x", "http://u:p@93.184.216.34/x"]
)
def test_malformed_or_non_http_urls_are_refused(admin: httpx.Client, url: str) -> None:
    assert admin.post("/webhooks", json={"url": url}).status_code == 422


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
