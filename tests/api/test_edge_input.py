"""Input at the edges of what the database and the standard library accept: a clear 4xx."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import update

from shared.clock import utcnow
from shared.models import WebhookDelivery
from shared.unit_of_work import transaction
from tests.helpers import problem_of
from tests.support.processes import fresh_database_env, start_api_server, ticketing


def test_a_moment_out_of_range_in_a_filter_is_422(customer: httpx.Client) -> None:
    for moment in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        problem_of(customer.get("/tickets", params={"created_after": moment}))
        assert customer.get("/tickets", params={"created_before": moment}).status_code == 422


def test_a_nul_character_is_refused_on_both_engines(agent: httpx.Client) -> None:
    response = agent.post(
        "/tickets", json={"title": "a\u0000b", "description": "x", "category_id": 1}
    )
    assert response.status_code == 422  # SQLite would store it; PostgreSQL would refuse it
    assert agent.get("/tickets", params={"q": "\u0000x"}).status_code == 422


def test_a_time_zone_that_is_a_folder_is_refused(admin: httpx.Client) -> None:
    response = admin.post(
        "/calendars",
        json={
            "name": "Americas",
            "timezone": "America",
            "weekly_hours": {"mon": [["09:00", "17:00"]]},
        },
    )
    assert response.status_code == 422


def test_closing_the_last_open_status_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    # A desk of its own: closing statuses would disturb every other test.
    env = fresh_database_env(tmp_path)
    key = ticketing("api-key", "create", "--email", "admin@example.com", env=env).strip()
    server = start_api_server(env=env)
    try:
        admin = httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"})
        for status_id in (2, 3):  # In Progress, Waiting on Customer
            assert (
                admin.patch(f"/statuses/{status_id}", json={"is_closed": True}).status_code == 200
            )
        before = admin.get("/statuses").json()

        refused = admin.patch("/statuses/1", json={"is_closed": True})  # Open, the last one

        assert refused.status_code == 409
        assert problem_of(refused)["errors"][0]["field"] == "is_closed"
        assert admin.get("/statuses").json() == before
        created = admin.post("/tickets", json={"title": "x", "description": "y", "category_id": 1})
        assert created.json()["status"]["name"] == "Open"
    finally:
        server.stop()


def test_redelivering_while_an_attempt_is_under_way_is_409(admin: httpx.Client) -> None:
    endpoint = admin.post("/webhooks", json={"url": "http://93.184.216.34/hooks"}).json()
    delivery = admin.post(f"/webhooks/{endpoint['id']}/test").json()
    with transaction() as session:
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery["id"])
            .values(claimed_until=utcnow().replace(year=utcnow().year + 1))
        )
    response = admin.post(f"/webhooks/{endpoint['id']}/deliveries/{delivery['id']}/redeliver")
    assert response.status_code == 409
    problem_of(response)
