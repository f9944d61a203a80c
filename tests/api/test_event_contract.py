"""Every event the API writes matches its published type: the OpenAPI document's `webhooks`
list each type's schema, and each outbox payload round-trips through its model unchanged."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.event_types import EVENT_DATA, Envelope, EventType
from shared.models import OutboxEvent


def _events_of(db: Session, ticket_id: int) -> list[dict[str, Any]]:
    rows = db.scalars(
        select(OutboxEvent.payload)
        .where(OutboxEvent.ticket_id == ticket_id)
        .order_by(OutboxEvent.id)
    )
    return [orjson.loads(row) for row in rows]


def test_every_event_type_is_published_in_the_openapi_document(anonymous: httpx.Client) -> None:
    document = anonymous.get("/openapi.json").json()
    assert set(document["webhooks"]) == {str(event_type) for event_type in EventType}
    schemas = document["components"]["schemas"]
    for event_type, model in EVENT_DATA.items():
        body = document["webhooks"][event_type]["post"]["requestBody"]["content"]
        reference = body["application/json"]["schema"]["$ref"]
        envelope = schemas[reference.rsplit("/", 1)[1]]
        assert envelope["properties"]["data"]["$ref"].endswith(f"/{model.__name__}")


def test_events_of_a_ticket_round_trip_through_their_typed_models(
    agent: httpx.Client, db: Session
) -> None:
    ticket = agent.post(
        "/tickets",
        json={"title": "Contract", "description": "d", "category_id": 1, "tags": ["a"]},
    ).json()
    agent.post(f"/tickets/{ticket['id']}/comments", json={"body": "On it"})
    agent.patch(f"/tickets/{ticket['id']}", json={"assigned_to": 4, "priority_id": 1})
    agent.patch(f"/tickets/{ticket['id']}", json={"status_id": 4})

    envelopes = _events_of(db, ticket["id"])
    seen = {envelope["type"] for envelope in envelopes}
    assert {"ticket.created", "ticket.commented", "ticket.assigned", "ticket.updated"} <= seen
    assert {"ticket.status_changed", "ticket.resolved"} <= seen
    for envelope in envelopes:
        model = Envelope[EVENT_DATA[EventType(envelope["type"])]]  # type: ignore[misc]
        parsed = model.model_validate(envelope)
        # Nothing in the payload that the published model does not declare, and back the same.
        assert orjson.loads(
            orjson.dumps(parsed.model_dump(mode="json", by_alias=True, exclude_defaults=True))
        ) == {**envelope, "timestamp": parsed.model_dump(mode="json")["timestamp"]}
