"""Bulk updates: one change applied to many tickets, an outcome per ticket, each ticket changed
exactly as a PATCH of it alone would change it."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from services.api.bulk.schemas import BulkUpdate
from services.api.bulk.service import BULK_PATH
from services.api.idempotency import CLAIM_LEASE, fingerprint
from services.api.idempotency import IN_PROGRESS as IN_PROGRESS_CLAIM
from shared.models import IdempotencyKey, OutboxEvent, Ticket, TicketHistory
from tests.api.test_custom_fields import scoped_field
from tests.api.test_mcp import call as mcp_call
from tests.api.test_mcp import error_text, ok
from tests.helpers import new_ticket, problem_of
from tests.support.processes import ApiServer

IN_PROGRESS = 2
RESOLVED = 4
MISSING = 987_654_321
SARAH_JOHNSON = 4  # the `agent` client's user


def unique_tag() -> str:
    return f"bulk-{uuid.uuid4().hex[:10]}"


def bulk(client: httpx.Client, body: Any, **headers: str) -> httpx.Response:
    return client.post("/tickets/bulk", json=body, headers=headers)


def event_types(db: Session, ticket_id: int) -> list[str]:
    db.rollback()
    rows = db.scalars(
        select(OutboxEvent.payload)
        .where(OutboxEvent.ticket_id == ticket_id)
        .order_by(OutboxEvent.id)
    )
    return [json.loads(row)["type"] for row in rows]


def history_count(db: Session, ticket_id: int) -> int:
    db.rollback()
    query = select(func.count()).select_from(TicketHistory)
    return db.scalar(query.where(TicketHistory.ticket_id == ticket_id)) or 0


def stored(db: Session, ticket_id: int) -> tuple[int, int, int, int]:
    """What a change would touch: version, status, history rows, outbox rows."""
    db.rollback()
    ticket = db.get(Ticket, ticket_id)
    assert ticket is not None
    db.refresh(ticket)
    return (
        ticket.version,
        ticket.status_id,
        history_count(db, ticket_id),
        len(event_types(db, ticket_id)),
    )


# --- outcomes -----------------------------------------------------------------------------------


def test_one_call_answers_each_ticket_as_its_own_patch_would_in_the_request_order(
    admin: httpx.Client, agent: httpx.Client, db: Session
) -> None:
    changed = new_ticket(agent)
    already = new_ticket(agent)
    assert agent.patch(f"/tickets/{already['id']}", json={"status_id": RESOLVED}).status_code == 200
    stale = new_ticket(agent)
    assert agent.patch(f"/tickets/{stale['id']}", json={"priority_id": 2}).status_code == 200
    field, category = scoped_field(admin, required_to_resolve=True)
    incomplete = new_ticket(agent, category_id=category)
    before = {t["id"]: stored(db, t["id"]) for t in (already, stale, incomplete)}

    response = bulk(
        agent,
        {
            "tickets": [
                changed["number"],
                already["id"],
                {"id": stale["id"], "version": stale["version"]},
                MISSING,
                str(incomplete["id"]),
            ],
            "changes": {"status_id": RESOLVED},
        },
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert [(r["ref"], r["status"], r["changed"]) for r in body["results"]] == [
        (changed["number"], 200, True),
        (already["id"], 200, False),
        (stale["id"], 412, False),
        (MISSING, 404, False),
        (str(incomplete["id"]), 422, False),
    ]
    assert (body["changed"], body["unchanged"], body["failed"]) == (1, 1, 3)
    first, unchanged, refused_stale, missing, refused_incomplete = body["results"]
    assert first["ticket"]["status"]["id"] == RESOLVED
    assert first["ticket"]["version"] == changed["version"] + 1
    assert first["error"] is None
    assert unchanged["ticket"]["version"] == before[already["id"]][0]
    assert refused_stale["ticket"] is None
    assert refused_stale["error"]["status"] == 412
    assert missing["error"]["title"] == "Not found"
    assert refused_incomplete["error"]["errors"] == [
        {"field": f"custom_fields.{field['key']}", "message": refused_incomplete["error"]["detail"]}
    ]
    assert {t: stored(db, t) for t in before} == before


def test_a_ticket_already_as_wanted_is_200_with_no_event_and_no_history(
    agent: httpx.Client, db: Session
) -> None:
    ticket = new_ticket(agent, priority_id=2)
    before = stored(db, ticket["id"])
    response = bulk(agent, {"tickets": [ticket["id"]], "changes": {"priority_id": 2}})
    assert response.status_code == 200, response.text
    assert response.json()["results"][0]["changed"] is False
    assert response.json()["unchanged"] == 1
    assert stored(db, ticket["id"]) == before


def test_each_changed_ticket_gets_the_events_and_history_a_single_patch_gives_it(
    agent: httpx.Client, other_agent: httpx.Client, db: Session
) -> None:
    changes = {"status_id": RESOLVED, "assigned_to": 5, "priority_id": 1}
    twin = new_ticket(agent)
    assert agent.patch(f"/tickets/{twin['id']}", json=changes).status_code == 200
    tickets = [new_ticket(agent) for _ in range(3)]

    response = bulk(agent, {"tickets": [t["id"] for t in tickets], "changes": changes})

    assert response.status_code == 200, response.text
    assert response.json()["changed"] == 3
    expected = event_types(db, twin["id"])
    assert "ticket.resolved" in expected
    assert "ticket.assigned" in expected
    for ticket in tickets:
        assert event_types(db, ticket["id"]) == expected
        assert history_count(db, ticket["id"]) == history_count(db, twin["id"])
    assert other_agent.get(f"/tickets/{tickets[0]['id']}").json()["assignee"]["id"] == 5


def test_add_tags_and_remove_tags_keep_each_tickets_other_tags(agent: httpx.Client) -> None:
    keep, drop, add = unique_tag(), unique_tag(), unique_tag()
    first = new_ticket(agent, tags=[keep, drop])
    second = new_ticket(agent, tags=[keep])
    response = bulk(
        agent,
        {
            "tickets": [first["id"], second["id"]],
            "changes": {"add_tags": [add], "remove_tags": drop},
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["changed"] == 2
    assert sorted(agent.get(f"/tickets/{first['id']}").json()["tags"]) == sorted([keep, add])
    assert sorted(agent.get(f"/tickets/{second['id']}").json()["tags"]) == sorted([keep, add])


def test_adding_tags_past_a_tickets_limit_refuses_that_ticket_only(agent: httpx.Client) -> None:
    full = new_ticket(agent, tags=[unique_tag() for _ in range(20)])
    roomy = new_ticket(agent)
    add = unique_tag()
    response = bulk(agent, {"tickets": [full["id"], roomy["id"]], "changes": {"add_tags": add}})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == [422, 200]
    assert results[0]["error"]["errors"][0]["field"] == "changes.add_tags"
    assert add not in agent.get(f"/tickets/{full['id']}").json()["tags"]


def test_a_call_longer_than_a_chunk_changes_every_ticket_in_order(
    agent: httpx.Client, db: Session
) -> None:
    tickets = [new_ticket(agent)["id"] for _ in range(120)]
    response = bulk(agent, {"tickets": tickets, "changes": {"status_id": IN_PROGRESS}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["ref"] for r in body["results"]] == tickets
    assert body["changed"] == 120
    assert all(event_types(db, t) == ["ticket.created", "ticket.status_changed"] for t in tickets)


# --- idempotency --------------------------------------------------------------------------------


def test_a_retry_with_the_same_idempotency_key_returns_the_first_answer_and_changes_nothing(
    agent: httpx.Client, db: Session
) -> None:
    ticket = new_ticket(agent)
    key = uuid.uuid4().hex
    body = {"tickets": [ticket["id"]], "changes": {"priority_id": 1}}
    first = bulk(agent, body, **{"Idempotency-Key": key})
    assert first.status_code == 200, first.text
    after_first = stored(db, ticket["id"])
    # Changed since by someone else: a replay must not put it back.
    assert agent.patch(f"/tickets/{ticket['id']}", json={"priority_id": 3}).status_code == 200
    after_patch = stored(db, ticket["id"])

    retry = bulk(agent, body, **{"Idempotency-Key": key})

    assert retry.status_code == 200
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert stored(db, ticket["id"]) == after_patch != after_first


def test_the_same_idempotency_key_with_another_body_is_422_and_changes_nothing(
    agent: httpx.Client, db: Session
) -> None:
    ticket = new_ticket(agent)
    key = uuid.uuid4().hex
    body = {"tickets": [ticket["id"]], "changes": {"priority_id": 1}}
    assert bulk(agent, body, **{"Idempotency-Key": key}).status_code == 200
    before = stored(db, ticket["id"])
    other = bulk(
        agent,
        {"tickets": [ticket["id"]], "changes": {"priority_id": 2}},
        **{"Idempotency-Key": key},
    )
    assert other.status_code == 422
    assert problem_of(other)["errors"][0]["field"] == "Idempotency-Key"
    assert stored(db, ticket["id"]) == before
    db.rollback()
    assert db.scalar(select(func.count()).where(IdempotencyKey.key == key)) == 1


# --- refusals of the whole call -----------------------------------------------------------------


def test_501_tickets_is_422_and_changes_nothing(agent: httpx.Client, db: Session) -> None:
    ticket = new_ticket(agent)
    before = stored(db, ticket["id"])
    refs = [ticket["id"], *range(MISSING, MISSING + 500)]
    response = bulk(agent, {"tickets": refs, "changes": {"priority_id": 1}})
    assert response.status_code == 422
    assert problem_of(response)["errors"][0]["field"] == "tickets"
    assert stored(db, ticket["id"]) == before


def test_500_distinct_tickets_are_accepted(agent: httpx.Client) -> None:
    refs = list(range(MISSING, MISSING + 500))
    response = bulk(agent, {"tickets": refs, "changes": {"priority_id": 1}})
    assert response.status_code == 200, response.text
    assert response.json()["failed"] == 500


def test_a_ticket_named_twice_is_422_and_changes_nothing(agent: httpx.Client, db: Session) -> None:
    ticket = new_ticket(agent)
    before = stored(db, ticket["id"])
    response = bulk(
        agent, {"tickets": [ticket["id"], ticket["number"]], "changes": {"priority_id": 1}}
    )
    assert response.status_code == 422
    problem = problem_of(response)
    assert problem["errors"][0]["field"] == "tickets"
    assert "twice" in problem["errors"][0]["message"]
    assert stored(db, ticket["id"]) == before


def test_a_customer_gets_403_and_changes_nothing(
    agent: httpx.Client, customer: httpx.Client, db: Session
) -> None:
    ticket = new_ticket(customer)
    before = stored(db, ticket["id"])
    response = bulk(customer, {"tickets": [ticket["id"]], "changes": {"status_id": RESOLVED}})
    assert response.status_code == 403
    assert problem_of(response)["title"] == "Forbidden"
    assert stored(db, ticket["id"]) == before


def test_without_a_key_is_401(anonymous: httpx.Client) -> None:
    response = bulk(anonymous, {"tickets": [1], "changes": {"priority_id": 1}})
    assert response.status_code == 401
    problem_of(response)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tickets": [], "changes": {"priority_id": 1}}, "tickets"),
        ({"tickets": "1,2", "changes": {"priority_id": 1}}, "tickets"),
        ({"tickets": [{"id": 1, "version": 0}], "changes": {"priority_id": 1}}, "tickets.0"),
        ({"tickets": [{"id": 1, "etag": 3}], "changes": {"priority_id": 1}}, "tickets.0"),
        ({"tickets": ["x" * 41], "changes": {"priority_id": 1}}, "tickets.0"),
        ({"tickets": [1]}, "changes"),
        ({"tickets": [1], "changes": {}}, "changes"),
        ({"tickets": [1], "changes": {"custom_fields": {}}}, "changes"),
        ({"tickets": [1], "changes": {"title": "All the same"}}, "changes"),
        ({"tickets": [1], "changes": {"tags": ["a"], "add_tags": ["b"]}}, "changes"),
        ({"tickets": [1], "changes": {"add_tags": ["a"], "remove_tags": ["a"]}}, "changes"),
        ({"tickets": [1], "changes": {"priority_id": "high"}}, "changes.priority_id"),
        ({"tickets": [1], "changes": {"status_id": None}}, "changes.status_id"),
        ({"tickets": [1], "changes": {"macro_id": 1}}, "changes.macro_id"),
        ({"tickets": [1], "changes": {"add_tags": ["bad\u0000tag"]}}, "changes"),
        ({"tickets": [1], "changes": {"add_tags": ["no/slash"]}}, "changes.add_tags"),
        ({"tickets": [1], "changes": {"priority_id": 1}, "dry_run": True}, "dry_run"),
    ],
)
def test_a_malformed_body_is_422_naming_the_field_and_changes_nothing(
    agent: httpx.Client, db: Session, body: dict[str, Any], field: str
) -> None:
    ticket = new_ticket(agent)
    before = stored(db, ticket["id"])
    body = json.loads(json.dumps(body).replace("[1]", f"[{ticket['id']}]"))
    response = bulk(agent, body)
    assert response.status_code == 422, response.text
    fields = [error["field"] for error in problem_of(response)["errors"]]
    assert any(name.startswith(field) for name in fields), fields
    assert stored(db, ticket["id"]) == before


@pytest.mark.parametrize(
    "changes",
    [
        {"status_id": MISSING},
        {"priority_id": MISSING},
        {"category_id": MISSING},
        {"assigned_to": 1},
    ],
)
def test_an_unknown_reference_in_the_changes_is_422_for_the_whole_call(
    agent: httpx.Client, db: Session, changes: dict[str, int]
) -> None:
    ticket = new_ticket(agent)
    before = stored(db, ticket["id"])
    response = bulk(agent, {"tickets": [ticket["id"]], "changes": changes})
    assert response.status_code == 422
    assert problem_of(response)["errors"][0]["field"] == f"changes.{next(iter(changes))}"
    assert stored(db, ticket["id"]) == before


def test_a_body_that_is_not_json_is_400(agent: httpx.Client) -> None:
    response = agent.post(
        "/tickets/bulk", content=b"{tickets:", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    problem_of(response)


# --- the API document and MCP -------------------------------------------------------------------


def test_the_api_document_describes_the_bulk_update(api_server: ApiServer) -> None:
    document = httpx.get(f"{api_server.base_url}/openapi.json", timeout=10).json()
    operation = document["paths"]["/tickets/bulk"]["post"]
    assert {"200", "401", "403", "422", "429"} <= operation["responses"].keys()
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/BulkOutcome"}
    assert "Idempotency-Key" in {p["name"] for p in operation["parameters"]}
    changes = document["components"]["schemas"]["BulkChanges"]["properties"]
    assert {"status_id", "assigned_to", "add_tags", "remove_tags", "custom_fields"} <= set(changes)


def test_an_agent_bulk_updates_through_mcp(
    api_server: ApiServer, api_keys: dict[str, str], agent: httpx.Client, db: Session
) -> None:
    tickets = [new_ticket(agent) for _ in range(2)]
    tag = unique_tag()
    result = ok(
        mcp_call(
            api_server,
            api_keys["agent"],
            "bulk_update_tickets",
            tickets=[tickets[0]["number"], {"id": tickets[1]["id"], "version": 99}, MISSING],
            priority_id=1,
            add_tags=[tag],
        )
    )
    assert [r["status"] for r in result["results"]] == [200, 412, 404]
    assert agent.get(f"/tickets/{tickets[0]['id']}").json()["tags"] == [tag]
    assert event_types(db, tickets[1]["id"]) == ["ticket.created"]


def test_a_customer_cannot_bulk_update_through_mcp(
    api_server: ApiServer, api_keys: dict[str, str], customer: httpx.Client, db: Session
) -> None:
    ticket = new_ticket(customer)
    result = mcp_call(
        api_server,
        api_keys["customer"],
        "bulk_update_tickets",
        tickets=[ticket["id"]],
        priority_id=1,
    )
    assert "Forbidden" in error_text(result)
    assert event_types(db, ticket["id"]) == ["ticket.created"]


def test_user_id_naming_another_user_is_403_as_on_other_writes(
    agent: httpx.Client, db: Session
) -> None:
    ticket = new_ticket(agent)
    before = stored(db, ticket["id"])
    body = {"tickets": [ticket["id"]], "changes": {"priority_id": 1}}
    response = agent.post("/tickets/bulk", params={"user_id": 5}, json=body)
    assert response.status_code == 403
    assert problem_of(response)["errors"][0]["field"] == "user_id"
    assert stored(db, ticket["id"]) == before
    assert agent.post("/tickets/bulk", params={"user_id": 4}, json=body).status_code == 200


def test_two_calls_with_one_idempotency_key_at_once_run_the_change_once(
    agent: httpx.Client, db: Session
) -> None:
    tickets = [new_ticket(agent)["id"] for _ in range(400)]  # eight chunks: the call takes a while
    key = uuid.uuid4().hex
    body = {"tickets": tickets, "changes": {"add_tags": [unique_tag()]}}

    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda _: bulk(agent, body, **{"Idempotency-Key": key}), [1, 2]))

    ran = [answer for answer in answers if "Idempotent-Replayed" not in answer.headers]
    assert [answer.status_code for answer in ran].count(200) == 1, [a.text for a in answers]
    assert all(a.status_code in (200, 409) for a in answers), [a.text for a in answers]
    for ticket_id in tickets[::20]:
        assert event_types(db, ticket_id) == ["ticket.created", "ticket.updated"]


def test_a_key_claimed_by_a_running_call_is_409_and_one_claimed_by_a_dead_call_is_taken_over(
    agent: httpx.Client, db: Session
) -> None:
    ticket = new_ticket(agent)
    key = uuid.uuid4().hex
    body = {"tickets": [ticket["id"]], "changes": {"priority_id": 1}}
    claimed_at = datetime.now(UTC)
    db.add(
        IdempotencyKey(
            user_id=SARAH_JOHNSON,
            key=key,
            request_path=BULK_PATH,
            request_hash=fingerprint(BULK_PATH, BulkUpdate.model_validate(body)),
            response_status=IN_PROGRESS_CLAIM,
            response_body="",
            created_at=claimed_at,
        )
    )
    db.commit()
    before = stored(db, ticket["id"])

    running = bulk(agent, body, **{"Idempotency-Key": key})

    assert running.status_code == 409
    assert problem_of(running)["errors"][0]["field"] == "Idempotency-Key"
    assert stored(db, ticket["id"]) == before

    db.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.key == key)
        .values(created_at=claimed_at - CLAIM_LEASE - timedelta(seconds=1))
    )
    db.commit()
    taken_over = bulk(agent, body, **{"Idempotency-Key": key})
    assert taken_over.status_code == 200, taken_over.text
    assert taken_over.json()["changed"] == 1
    assert bulk(agent, body, **{"Idempotency-Key": key}).json() == taken_over.json()
