"""Endpoint health: an endpoint failing every delivery for the configured time is disabled with
a reason, gets no attempts while disabled, and its failed deliveries stay visible."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.processes import wait_until
from tests.support.receiver import Behaviour, WebhookReceiver, running_receiver
from tests.support.system import System, running_system


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    settings = {
        "WEBHOOK_RETRY_SCHEDULE_SECONDS": "1,1,1,1,1,1",
        "WEBHOOK_DISABLE_AFTER_HOURS": "0.0005",  # 1.8 s of nothing but failures
    }
    with running_system(
        tmp_path_factory.mktemp("health"), with_notifier=True, settings=settings
    ) as running:
        yield running


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    with running_receiver() as running:
        yield running


def test_an_endpoint_failing_everything_is_disabled_and_its_deliveries_stay_visible(
    system: System, receiver: WebhookReceiver
) -> None:
    receiver.behaviours["/down"] = Behaviour([500])
    admin = system.client("admin")
    endpoint = admin.post(
        "/webhooks", json={"url": receiver.url("/down"), "event_types": ["ticket.created"]}
    ).json()
    agent = system.client("agent")
    for n in range(3):
        agent.post("/tickets", json={"title": f"Down {n}", "description": "x", "category_id": 3})

    def disabled() -> bool:
        return not admin.get(f"/webhooks/{endpoint['id']}").json()["enabled"]

    wait_until(disabled, timeout=20, what="the endpoint to be disabled")
    shown = admin.get(f"/webhooks/{endpoint['id']}").json()
    assert "every delivery failed since" in shown["disabled_reason"]
    assert shown["disabled_at"] is not None

    tried = len(receiver.at("/down"))
    agent.post("/tickets", json={"title": "While disabled", "description": "x", "category_id": 3})
    deliveries = admin.get(f"/webhooks/{endpoint['id']}/deliveries").json()["items"]
    assert deliveries, "failed deliveries stay listed"
    assert all(delivery["attempt_log"] for delivery in deliveries)
    assert len(receiver.at("/down")) == tried, "a disabled endpoint gets no attempts"
