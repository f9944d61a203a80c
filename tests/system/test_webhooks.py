"""Webhooks end to end: real API, worker, notifier and loopback receivers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select

from shared.models import OutboxEvent
from tests.support.processes import wait_until
from tests.support.receiver import Behaviour, WebhookReceiver, running_receiver, verified
from tests.support.system import System, running_system


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    with running_system(tmp_path_factory.mktemp("webhooks"), with_notifier=True) as running:
        yield running


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    with running_receiver() as running:
        yield running


def _subscribe(
    system: System,
    receiver: WebhookReceiver,
    *,
    event_types: list[str] | None = None,
    behaviour: Behaviour | None = None,
) -> tuple[dict[str, Any], str]:
    path = f"/hooks/{uuid.uuid4().hex[:8]}"
    if behaviour:
        receiver.behaviours[path] = behaviour
    response = system.client("admin").post(
        "/webhooks", json={"url": receiver.url(path), "event_types": event_types or []}
    )
    assert response.status_code == 201, response.text
    return dict(response.json()), path


def _ticket(system: System, **overrides: Any) -> dict[str, Any]:
    body = {"title": "Webhook probe", "description": "x", "user_id": 1, "category_id": 3}
    body.update(overrides)
    response = system.client("agent").post("/tickets", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _for_ticket(receiver: WebhookReceiver, path: str, ticket_id: int) -> list[dict[str, Any]]:
    payloads = [orjson.loads(request.body) for request in receiver.at(path)]
    return [p for p in payloads if p["data"].get("ticket", {}).get("id") == ticket_id]


def _deliveries(system: System, endpoint_id: int) -> list[dict[str, Any]]:
    response = system.client("admin").get(f"/webhooks/{endpoint_id}/deliveries")
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def _first_delivery(system: System, endpoint_id: int) -> dict[str, Any]:
    """The endpoint's only delivery so far (an empty dict before there is one)."""
    deliveries = _deliveries(system, endpoint_id)
    return deliveries[-1] if deliveries else {}


def test_a_tickets_lifecycle_reaches_the_receiver_once_per_event_verified(
    system: System, receiver: WebhookReceiver
) -> None:
    endpoint, path = _subscribe(system, receiver)
    agent = system.client("agent")
    ticket = _ticket(system)
    for change in ({"status_id": 2}, {"assigned_to": 4}, {"status_id": 4}):
        assert agent.patch(f"/tickets/{ticket['id']}", json=change).status_code == 200
    agent.post(f"/tickets/{ticket['id']}/comments", json={"body": "All sorted"})
    expected = [
        "ticket.created",
        "ticket.sla_updated",
        "ticket.status_changed",
        "ticket.assigned",
        "ticket.status_changed",
        "ticket.resolved",
        "ticket.commented",
    ]

    wait_until(
        lambda: len(_for_ticket(receiver, path, ticket["id"])) >= len(expected),
        timeout=10,
        what="every event at the receiver",
    )
    requests = [
        r for r in receiver.at(path) if orjson.loads(r.body)["data"]["ticket"]["id"] == ticket["id"]
    ]
    payloads = [verified(request, endpoint["secret"]) for request in requests]
    assert sorted(p["type"] for p in payloads) == sorted(expected)  # type: ignore[type-var]
    ids = [request.headers["webhook-id"] for request in requests]
    assert len(set(ids)) == len(ids), "each event once"
    assert all(
        request.headers["webhook-id"] == orjson.loads(request.body)["id"] for request in requests
    )
    assert {request.headers["content-type"] for request in requests} == {"application/json"}
    assert all("Ticketing" in request.headers["user-agent"] for request in requests)
    by_type = {p["type"]: p for p in payloads}
    assert by_type["ticket.assigned"]["data"]["changes"]["assignee"]["to"]["id"] == 4  # type: ignore[index]
    assert by_type["ticket.commented"]["data"]["comment"]["body"] == "All sorted"  # type: ignore[index]


def test_a_failing_receiver_gets_the_same_event_again_until_it_succeeds(
    system: System, receiver: WebhookReceiver
) -> None:
    endpoint, path = _subscribe(
        system, receiver, event_types=["ticket.created"], behaviour=Behaviour([500, 500, 200])
    )
    _ticket(system)

    wait_until(lambda: len(receiver.at(path)) >= 3, timeout=15, what="three attempts")
    assert len(set(receiver.event_ids(path))) == 1, "the same webhook-id on every retry"

    wait_until(
        lambda: _first_delivery(system, endpoint["id"]).get("status") == "succeeded",
        timeout=5,
        what="the delivery log",
    )
    [delivery] = _deliveries(system, endpoint["id"])
    assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 500, 200]
    assert [a["attempt_number"] for a in delivery["attempt_log"]] == [1, 2, 3]
    assert delivery["attempt_log"][0]["next_retry_at"] is not None
    assert delivery["attempt_log"][0]["error"] == "HTTP 500"


def _fast_delays(
    system: System, receiver: WebhookReceiver, path: str, ids: list[int]
) -> list[float]:
    """Seconds from each ticket's event being published to the receiver having it."""
    with system.db() as db:
        published = dict(
            db.execute(
                select(OutboxEvent.event_id, OutboxEvent.published_at).where(
                    OutboxEvent.ticket_id.in_(ids), OutboxEvent.event_type == "ticket.created"
                )
            ).all()
        )
    return [
        request.received_at - published[request.headers["webhook-id"]].timestamp()
        for request in receiver.at(path)
        if request.headers["webhook-id"] in published
    ]


def test_a_hanging_receiver_does_not_delay_another_one(
    system: System, receiver: WebhookReceiver
) -> None:
    _fast, fast_path = _subscribe(system, receiver, event_types=["ticket.created"])
    # The baseline, in this run: the fast endpoint alone.
    alone = [_ticket(system)["id"] for _ in range(20)]
    wait_until(lambda: len(receiver.at(fast_path)) >= 20, timeout=15, what="the baseline")
    baseline = max(_fast_delays(system, receiver, fast_path, alone))

    # Now beside an endpoint that hangs, with more events than it may have in flight: its
    # queue backs up for seconds while the fast endpoint must keep its pace.
    _slow, slow_path = _subscribe(
        system, receiver, event_types=["ticket.created"], behaviour=Behaviour(delay=5)
    )
    beside = [_ticket(system)["id"] for _ in range(20)]
    wait_until(lambda: len(receiver.at(fast_path)) >= 40, timeout=15, what="the fast receiver")
    delays = _fast_delays(system, receiver, fast_path, beside)
    assert max(delays) < baseline + 1.0, (baseline, sorted(delays)[-3:])
    assert len(receiver.at(slow_path)) < 20, "the slow endpoint's queue was backed up meanwhile"


def test_the_event_filter_delivers_only_the_types_asked_for(
    system: System, receiver: WebhookReceiver
) -> None:
    _endpoint, path = _subscribe(system, receiver, event_types=["ticket.commented"])
    ticket = _ticket(system)
    system.client("agent").post(f"/tickets/{ticket['id']}/comments", json={"body": "hi"})
    wait_until(lambda: _for_ticket(receiver, path, ticket["id"]), timeout=10, what="delivery")
    assert {p["type"] for p in (orjson.loads(r.body) for r in receiver.at(path))} == {
        "ticket.commented"
    }


def test_receivers_learn_the_due_times_the_worker_sets(
    system: System, receiver: WebhookReceiver
) -> None:
    endpoint, path = _subscribe(system, receiver, event_types=["ticket.sla_updated"])
    ticket = _ticket(system)
    assert ticket["first_response_due_at"] is None  # the worker has not computed them yet

    wait_until(lambda: _for_ticket(receiver, path, ticket["id"]), timeout=10, what="delivery")
    [request] = [
        r for r in receiver.at(path) if orjson.loads(r.body)["data"]["ticket"]["id"] == ticket["id"]
    ]
    payload = verified(request, endpoint["secret"])
    stored = system.client("agent").get(f"/tickets/{ticket['id']}").json()
    assert payload["type"] == "ticket.sla_updated"
    assert payload["data"]["sla"]["first_response_due_at"] == stored["first_response_due_at"]  # type: ignore[index]
    assert payload["data"]["sla"]["resolution_due_at"] == stored["resolution_due_at"]  # type: ignore[index]
    assert stored["resolution_due_at"] is not None


def test_a_rotated_secret_signs_beside_the_old_one_during_the_overlap(
    system: System, receiver: WebhookReceiver
) -> None:
    endpoint, path = _subscribe(system, receiver, event_types=["ticket.created"])
    rotated = system.client("admin").post(f"/webhooks/{endpoint['id']}/rotate-secret").json()
    assert rotated["secret"] != endpoint["secret"]
    assert rotated["previous_secret_expires_at"] is not None
    _ticket(system)

    wait_until(lambda: receiver.at(path), timeout=10, what="delivery")
    [request] = receiver.at(path)
    assert len(request.headers["webhook-signature"].split()) == 2
    verified(request, rotated["secret"])
    verified(request, endpoint["secret"])


def test_a_test_event_reaches_the_receiver(system: System, receiver: WebhookReceiver) -> None:
    endpoint, path = _subscribe(system, receiver, event_types=["webhook.test"])
    queued = system.client("admin").post(f"/webhooks/{endpoint['id']}/test")
    assert queued.status_code == 202
    wait_until(lambda: receiver.at(path), timeout=10, what="the test event")
    assert verified(receiver.at(path)[0], endpoint["secret"])["type"] == "webhook.test"


def test_a_redelivery_sends_the_event_again_with_its_id(
    system: System, receiver: WebhookReceiver
) -> None:
    endpoint, path = _subscribe(system, receiver, event_types=["ticket.created"])
    _ticket(system)
    wait_until(
        lambda: _first_delivery(system, endpoint["id"]).get("status") == "succeeded", timeout=10
    )
    [delivery] = _deliveries(system, endpoint["id"])

    again = system.client("admin").post(
        f"/webhooks/{endpoint['id']}/deliveries/{delivery['id']}/redeliver"
    )
    assert again.status_code == 202
    wait_until(lambda: len(receiver.at(path)) == 2, timeout=10, what="the redelivery")
    assert receiver.event_ids(path) == [delivery["event_id"]] * 2
    wait_until(lambda: _first_delivery(system, endpoint["id"]).get("attempts") == 2, timeout=5)


def test_410_gone_disables_the_endpoint_until_it_is_enabled_again(
    system: System, receiver: WebhookReceiver
) -> None:
    endpoint, path = _subscribe(
        system, receiver, event_types=["ticket.created"], behaviour=Behaviour([410, 200])
    )
    admin = system.client("admin")
    _ticket(system)

    wait_until(lambda: not admin.get(f"/webhooks/{endpoint['id']}").json()["enabled"], timeout=10)
    disabled = admin.get(f"/webhooks/{endpoint['id']}").json()
    assert "410" in disabled["disabled_reason"]
    _ticket(system)  # while disabled: no attempt
    assert len(receiver.at(path)) == 1

    assert admin.post(f"/webhooks/{endpoint['id']}/enable").json()["enabled"] is True
    _ticket(system)
    wait_until(lambda: len(receiver.at(path)) >= 2, timeout=10, what="deliveries to resume")


def test_a_redirect_is_a_failure_and_not_followed(
    system: System, receiver: WebhookReceiver
) -> None:
    endpoint, path = _subscribe(
        system,
        receiver,
        event_types=["ticket.created"],
        behaviour=Behaviour([302], headers={"location": "http://127.0.0.1:1/elsewhere"}),
    )
    _ticket(system)
    wait_until(lambda: _first_delivery(system, endpoint["id"]).get("attempt_log"), timeout=10)
    attempt = _first_delivery(system, endpoint["id"])["attempt_log"][0]
    assert attempt["status_code"] == 302
    assert "redirect" in attempt["error"]


def test_retry_after_is_honoured(system: System, receiver: WebhookReceiver) -> None:
    endpoint, path = _subscribe(
        system,
        receiver,
        event_types=["ticket.created"],
        behaviour=Behaviour([503, 200], headers={"retry-after": "3"}),
    )
    _ticket(system)
    wait_until(lambda: len(receiver.at(path)) == 2, timeout=15, what="the retry")
    first, second = receiver.at(path)
    assert second.at - first.at >= 2.9


def test_deliveries_are_listed_with_every_attempt(
    system: System, receiver: WebhookReceiver
) -> None:
    endpoint, _path = _subscribe(system, receiver, event_types=["ticket.created"])
    ticket = _ticket(system)
    wait_until(lambda: _deliveries(system, endpoint["id"]), timeout=10)
    [delivery] = _deliveries(system, endpoint["id"])
    assert delivery["event_type"] == "ticket.created"
    assert delivery["event_id"].startswith("evt_")
    wait_until(lambda: _first_delivery(system, endpoint["id"]).get("attempt_log"), timeout=10)
    [attempt] = _first_delivery(system, endpoint["id"])["attempt_log"]
    assert attempt["duration_ms"] >= 0
    assert attempt["status_code"] == 200
    assert ticket["id"] > 0
    ready = httpx.get(f"{system.api.base_url}/ready").json()
    assert ready["redis"]["ok"]


def test_a_delivery_that_runs_out_of_retries_has_failed_for_good(
    system: System, receiver: WebhookReceiver
) -> None:
    path = "/exhausted"
    receiver.behaviours[path] = Behaviour([500, 500, 500, 500, 200])
    admin = system.client("admin")
    endpoint = admin.post(
        "/webhooks", json={"url": receiver.url(path), "event_types": ["ticket.created"]}
    ).json()
    system.client("agent").post(
        "/tickets", json={"title": "Exhausted", "description": "x", "category_id": 3}
    )

    def failed() -> bool:
        items = admin.get(f"/webhooks/{endpoint['id']}/deliveries").json()["items"]
        return bool(items) and items[0]["status"] == "failed"

    wait_until(failed, timeout=20, what="the delivery to fail for good (1 + 3 retries)")
    [delivery] = admin.get(f"/webhooks/{endpoint['id']}/deliveries").json()["items"]
    assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 500, 500, 500]
    assert delivery["attempt_log"][-1]["next_retry_at"] is None
    assert delivery["next_attempt_at"] is None
