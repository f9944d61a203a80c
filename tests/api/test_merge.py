"""Merging a ticket into another: comments copied, the source closed and linked, histories,
events, and every refusal changing nothing."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.event_types import EVENT_DATA, Envelope, EventType
from shared.models import OutboxEvent, SlaPause
from tests.api.test_mcp import call as mcp_call
from tests.api.test_mcp import error_text, ok
from tests.helpers import new_ticket, problem_of
from tests.support.processes import ApiServer

CLOSED = 5
IN_PROGRESS = 2


def outbox(db: Session, ticket_id: int) -> list[dict[str, Any]]:
    db.rollback()
    rows = db.scalars(
        select(OutboxEvent.payload)
        .where(OutboxEvent.ticket_id == ticket_id)
        .order_by(OutboxEvent.id)
    )
    return [orjson.loads(row) for row in rows]


def snapshot(client: httpx.Client, *ticket_ids: int) -> list[Any]:
    """What a refused request must leave as it was: the tickets, comments, history, links."""
    taken: list[Any] = []
    for ticket_id in ticket_ids:
        for path in ("", "/comments", "/history", "/links"):
            response = client.get(f"/tickets/{ticket_id}{path}")
            assert response.status_code == 200, response.text
            taken.append(response.json())
    return taken


def test_merge_copies_comments_with_authors_and_times_and_closes_the_source(
    agent: httpx.Client, customer: httpx.Client
) -> None:
    source = new_ticket(customer, title="Printer jams again")
    target = new_ticket(customer, title="Printer jams")
    question = customer.post(f"/tickets/{source['id']}/comments", json={"body": "Tray 2"}).json()
    note = agent.post(
        f"/tickets/{source['id']}/comments", json={"body": "Same as TKT-x", "internal": True}
    ).json()

    response = agent.post(f"/tickets/{source['id']}/merge", json={"into": target["number"]})

    assert response.status_code == 200, response.text
    merged = response.json()
    assert merged["comments_copied"] == 2
    assert merged["public_comments_made_internal"] is False
    assert merged["ticket"]["status"]["id"] == CLOSED
    assert merged["ticket"]["closed_at"] is not None
    assert merged["ticket"]["resolved_at"] is not None
    assert merged["link"]["kind"] == "merged_into"
    assert merged["link"]["ticket"]["id"] == target["id"]
    assert response.headers["ETag"] == f'"{merged["ticket"]["version"]}"'
    copied = agent.get(f"/tickets/{target['id']}/comments").json()
    assert [(c["body"], c["author"]["id"], c["created_at"], c["internal"]) for c in copied] == [
        (question["body"], question["author"]["id"], question["created_at"], False),
        (note["body"], note["author"]["id"], note["created_at"], True),
    ]
    # The customer sees the public one only, on their own ticket.
    seen = customer.get(f"/tickets/{target['id']}/comments").json()
    assert [c["body"] for c in seen] == ["Tray 2"]
    # The source keeps its own comments.
    assert len(agent.get(f"/tickets/{source['id']}/comments").json()) == 2


def test_both_histories_record_the_merge(agent: httpx.Client, customer: httpx.Client) -> None:
    source = new_ticket(customer)
    target = new_ticket(customer)
    agent.post(f"/tickets/{source['id']}/comments", json={"body": "hello"})

    assert agent.post(f"/tickets/{source['id']}/merge", json={"into": target["id"]}).is_success

    source_fields = [row["field"] for row in agent.get(f"/tickets/{source['id']}/history").json()]
    target_rows = agent.get(f"/tickets/{target['id']}/history").json()
    assert {"status", "merged_into"} <= set(source_fields)
    assert [r["new_value"] for r in target_rows if r["field"] == "merged_from"] == [
        source["number"]
    ]
    assert [r["field"] for r in target_rows].count("comment") == 1
    # Same requester: the customer reads the merge on both tickets.
    customer_fields = {r["field"] for r in customer.get(f"/tickets/{target['id']}/history").json()}
    assert "merged_from" in customer_fields


def test_merge_writes_a_ticket_merged_event_and_the_status_events(
    agent: httpx.Client, db: Session
) -> None:
    source = new_ticket(agent)
    target = new_ticket(agent)
    agent.post(f"/tickets/{source['id']}/comments", json={"body": "one"})

    agent.post(f"/tickets/{source['id']}/merge", json={"into": target["id"]}).raise_for_status()

    events = outbox(db, source["id"])
    types = [event["type"] for event in events]
    assert {"ticket.status_changed", "ticket.resolved", "ticket.merged"} <= set(types)
    [merged] = [event for event in events if event["type"] == "ticket.merged"]
    data = merged["data"]
    assert data["ticket"]["id"] == source["id"]
    assert data["ticket"]["status"]["id"] == CLOSED
    assert data["into"] == {"id": target["id"], "number": target["number"]}
    assert data["comments_copied"] == 1
    assert data["actor"]["id"] == 4
    [updated] = [e for e in outbox(db, target["id"]) if e["type"] == "ticket.updated"]
    assert updated["data"]["changes"]["links"]["to"] == [
        {
            "id": updated["data"]["changes"]["links"]["to"][0]["id"],
            "kind": "merged_from",
            "ticket": source["number"],
        }
    ]
    for event in [merged, updated]:
        model = Envelope[EVENT_DATA[EventType(event["type"])]]  # type: ignore[misc]
        model.model_validate(event)


def test_public_comments_become_internal_between_different_requesters(
    agent: httpx.Client, customer: httpx.Client, other_customer: httpx.Client
) -> None:
    source = new_ticket(other_customer, title="Jane's words")
    target = new_ticket(customer)
    other_customer.post(f"/tickets/{source['id']}/comments", json={"body": "My address is X"})

    merged = agent.post(f"/tickets/{source['id']}/merge", json={"into": target["id"]}).json()

    assert merged["public_comments_made_internal"] is True
    assert [c["internal"] for c in agent.get(f"/tickets/{target['id']}/comments").json()] == [True]
    assert customer.get(f"/tickets/{target['id']}/comments").json() == []
    # Neither customer's history names the other's ticket.
    fields = {r["field"] for r in customer.get(f"/tickets/{target['id']}/history").json()}
    assert "merged_from" not in fields
    assert "comment" not in fields


def test_staff_may_keep_public_comments_public(
    agent: httpx.Client, customer: httpx.Client, other_customer: httpx.Client
) -> None:
    source = new_ticket(other_customer)
    target = new_ticket(customer)
    agent.post(f"/tickets/{source['id']}/comments", json={"body": "We are on it"})

    response = agent.post(
        f"/tickets/{source['id']}/merge",
        json={"into": target["id"], "keep_public_comments": True},
    )

    assert response.json()["public_comments_made_internal"] is False
    assert [c["body"] for c in customer.get(f"/tickets/{target['id']}/comments").json()] == [
        "We are on it"
    ]


def test_a_customer_merges_their_own_ticket_into_their_own(customer: httpx.Client) -> None:
    source = new_ticket(customer)
    target = new_ticket(customer)

    response = customer.post(f"/tickets/{source['id']}/merge", json={"into": target["id"]})

    assert response.status_code == 200, response.text
    assert response.json()["ticket"]["status"]["id"] == CLOSED


def test_a_customer_cannot_merge_into_another_customers_ticket(
    agent: httpx.Client, customer: httpx.Client, other_customer: httpx.Client
) -> None:
    source = new_ticket(customer)
    target = new_ticket(other_customer)
    before = snapshot(agent, source["id"], target["id"])

    response = customer.post(f"/tickets/{source['id']}/merge", json={"into": target["id"]})

    assert response.status_code == 404
    assert problem_of(response)["errors"][0]["field"] == "into"
    assert snapshot(agent, source["id"], target["id"]) == before
    # Nor merge another's ticket away.
    other = customer.post(f"/tickets/{target['id']}/merge", json={"into": source["id"]})
    assert other.status_code == 404


def test_a_customer_cannot_choose_how_comments_are_copied(customer: httpx.Client) -> None:
    source = new_ticket(customer)
    target = new_ticket(customer)

    response = customer.post(
        f"/tickets/{source['id']}/merge",
        json={"into": target["id"], "keep_public_comments": True},
    )

    assert response.status_code == 403
    assert customer.get(f"/tickets/{source['id']}").json()["version"] == source["version"]


def test_a_stale_if_match_gets_412_and_changes_nothing(agent: httpx.Client) -> None:
    source = new_ticket(agent)
    target = new_ticket(agent)
    agent.patch(f"/tickets/{source['id']}", json={"title": "Moved on"})
    before = snapshot(agent, source["id"], target["id"])

    response = agent.post(
        f"/tickets/{source['id']}/merge",
        json={"into": target["id"]},
        headers={"If-Match": f'"{source["version"]}"'},
    )

    assert response.status_code == 412
    problem_of(response)
    assert snapshot(agent, source["id"], target["id"]) == before


def test_a_current_if_match_merges(agent: httpx.Client) -> None:
    source = new_ticket(agent)
    target = new_ticket(agent)

    response = agent.post(
        f"/tickets/{source['id']}/merge",
        json={"into": target["id"]},
        headers={"If-Match": f'"{source["version"]}"'},
    )

    assert response.status_code == 200


def test_refusals_change_nothing(agent: httpx.Client) -> None:
    source = new_ticket(agent)
    target = new_ticket(agent)
    closed = new_ticket(agent)
    agent.patch(f"/tickets/{closed['id']}", json={"status_id": CLOSED}).raise_for_status()
    before = snapshot(agent, source["id"], target["id"], closed["id"])
    cases = [
        ({"into": source["id"]}, 422, "into"),
        ({"into": "TKT-9999999"}, 404, "into"),
        ({"into": "nonsense"}, 404, "into"),
        ({"into": closed["id"]}, 409, "into"),
        ({"into": True}, 422, "into"),
        ({"into": target["id"], "extra": 1}, 422, "extra"),
        ({}, 422, "into"),
    ]
    for body, status, field in cases:
        response = agent.post(f"/tickets/{source['id']}/merge", json=body)
        assert response.status_code == status, (body, response.text)
        assert field in [e["field"] for e in problem_of(response)["errors"]], body
    assert agent.post("/tickets/9999999/merge", json={"into": target["id"]}).status_code == 404
    assert snapshot(agent, source["id"], target["id"], closed["id"]) == before


def test_a_ticket_merged_already_is_not_merged_again(agent: httpx.Client) -> None:
    source = new_ticket(agent)
    first = new_ticket(agent)
    second = new_ticket(agent)
    agent.post(f"/tickets/{source['id']}/merge", json={"into": first["id"]}).raise_for_status()
    before = snapshot(agent, source["id"], second["id"])

    again = agent.post(f"/tickets/{source['id']}/merge", json={"into": second["id"]})

    assert again.status_code == 409
    assert first["number"] in problem_of(again)["detail"]
    assert snapshot(agent, source["id"], second["id"]) == before


def test_merging_into_a_merged_ticket_names_where_it_went(agent: httpx.Client) -> None:
    gone = new_ticket(agent)
    final = new_ticket(agent)
    source = new_ticket(agent)
    agent.post(f"/tickets/{gone['id']}/merge", json={"into": final["id"]}).raise_for_status()

    response = agent.post(f"/tickets/{source['id']}/merge", json={"into": gone["id"]})

    assert response.status_code == 409
    assert final["number"] in problem_of(response)["detail"]


def test_a_merged_ticket_cannot_be_reopened(agent: httpx.Client, customer: httpx.Client) -> None:
    source = new_ticket(customer)
    target = new_ticket(customer)
    agent.post(f"/tickets/{source['id']}/merge", json={"into": target["id"]}).raise_for_status()

    for client, status_id in ((agent, IN_PROGRESS), (customer, 1)):
        response = client.patch(f"/tickets/{source['id']}", json={"status_id": status_id})
        assert response.status_code == 409, response.text
        assert target["number"] in problem_of(response)["detail"]
    # Other edits still go through.
    assert agent.patch(f"/tickets/{source['id']}", json={"title": "Dup"}).status_code == 200


def test_a_waiting_ticket_merged_ends_its_sla_pause(agent: httpx.Client, db: Session) -> None:
    source = new_ticket(agent)
    target = new_ticket(agent)
    agent.patch(f"/tickets/{source['id']}", json={"status_id": 3}).raise_for_status()

    merged = agent.post(f"/tickets/{source['id']}/merge", json={"into": target["id"]}).json()

    assert merged["ticket"]["status"]["id"] == CLOSED
    db.rollback()
    ended = db.scalars(select(SlaPause.ended_at).where(SlaPause.ticket_id == source["id"])).all()
    assert ended
    assert None not in ended


def test_merge_through_mcp_follows_the_same_rules(
    api_server: ApiServer, api_keys: dict[str, str], agent: httpx.Client
) -> None:
    source = new_ticket(agent)
    target = new_ticket(agent)

    merged = ok(
        mcp_call(
            api_server,
            api_keys["agent"],
            "merge_tickets",
            ticket=source["id"],
            into=target["number"],
        )
    )
    again = mcp_call(
        api_server, api_keys["agent"], "merge_tickets", ticket=source["id"], into=target["id"]
    )

    assert merged["ticket"]["status"]["id"] == CLOSED
    assert merged["into"]["id"] == target["id"]
    assert "merged into" in error_text(again)


def test_a_retried_merge_with_its_idempotency_key_gets_the_first_answer(
    agent: httpx.Client,
) -> None:
    source = new_ticket(agent)
    target = new_ticket(agent)
    agent.post(f"/tickets/{source['id']}/comments", json={"body": "once"})
    headers = {"Idempotency-Key": f"merge-{source['id']}"}
    body = {"into": target["id"]}

    first = agent.post(f"/tickets/{source['id']}/merge", json=body, headers=headers)
    retry = agent.post(f"/tickets/{source['id']}/merge", json=body, headers=headers)

    assert (first.status_code, retry.status_code) == (200, 200)
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert len(agent.get(f"/tickets/{target['id']}/comments").json()) == 1


JANE = 2


def test_public_comments_become_internal_when_the_target_has_a_cc_the_source_lacks(
    agent: httpx.Client, customer: httpx.Client, other_customer: httpx.Client
) -> None:
    source = new_ticket(customer)
    target = new_ticket(customer)
    agent.post(f"/tickets/{target['id']}/ccs", json={"user_id": JANE}).raise_for_status()
    customer.post(f"/tickets/{source['id']}/comments", json={"body": "private to me"})

    merged = agent.post(f"/tickets/{source['id']}/merge", json={"into": target["id"]}).json()

    assert merged["public_comments_made_internal"] is True
    assert other_customer.get(f"/tickets/{target['id']}/comments").json() == []


def test_a_customer_copied_on_a_ticket_cannot_merge_it(
    agent: httpx.Client, customer: httpx.Client, other_customer: httpx.Client
) -> None:
    johns = new_ticket(customer)
    janes = new_ticket(other_customer)
    agent.post(f"/tickets/{johns['id']}/ccs", json={"user_id": JANE}).raise_for_status()
    before = snapshot(agent, johns["id"], janes["id"])

    away = other_customer.post(f"/tickets/{johns['id']}/merge", json={"into": janes["id"]})
    into = other_customer.post(f"/tickets/{janes['id']}/merge", json={"into": johns["id"]})

    assert (away.status_code, into.status_code) == (403, 403)
    assert problem_of(into)["errors"][0]["field"] == "into"
    assert snapshot(agent, johns["id"], janes["id"]) == before
