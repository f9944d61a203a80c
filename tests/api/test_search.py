"""Search over the API: a page's hits with their snippets, the total, and who sees what. The
worker indexes tickets in production; here the same function runs in-process."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy.orm import Session

from shared.search_index import index_ticket
from tests.helpers import new_ticket


def _word() -> str:
    return f"zx{uuid.uuid4().hex[:10]}"


def _indexed(db: Session, *tickets: dict[str, Any]) -> None:
    for ticket in tickets:
        index_ticket(db, ticket_id=ticket["id"])


def _search(client: httpx.Client, query: str, **params: Any) -> dict[str, Any]:
    response = client.get("/search", params={"query": query, **params})
    assert response.status_code == 200, response.text
    return dict(response.json())


def _ids(page: dict[str, Any]) -> list[int]:
    return [hit["ticket"]["id"] for hit in page["items"]]


def test_every_hit_on_a_page_has_its_snippet_and_highlighted_title(
    agent: httpx.Client, db: Session
) -> None:
    word = _word()
    tickets = [
        new_ticket(agent, title=f"{word} printer {n}", description=f"The {word} printer jams")
        for n in range(5)
    ]
    _indexed(db, *tickets)

    first = _search(agent, word, limit=3)
    second = _search(agent, word, limit=3, offset=3)

    assert (first["total"], second["total"]) == (5, 5)
    assert sorted(_ids(first) + _ids(second)) == sorted(t["id"] for t in tickets)
    for hit in first["items"] + second["items"]:
        assert f"<mark>{word}</mark>" in hit["title_highlighted"]
        assert f"<mark>{word}</mark>" in hit["snippet"]


def test_filtered_search_counts_and_pages_only_the_filtered_tickets(
    agent: httpx.Client, db: Session
) -> None:
    word = _word()
    urgent = [new_ticket(agent, title=f"{word} outage", priority_id=1) for _ in range(3)]
    low = [new_ticket(agent, title=f"{word} outage", priority_id=4) for _ in range(2)]
    _indexed(db, *urgent, *low)

    first = _search(agent, word, priority_id=1, limit=2)
    rest = _search(agent, word, priority_id=1, limit=2, offset=2)

    assert (first["total"], rest["total"]) == (3, 3)
    assert sorted(_ids(first) + _ids(rest)) == sorted(t["id"] for t in urgent)
    assert all(hit["snippet"] or hit["title_highlighted"] for hit in first["items"])


def test_customer_search_counts_only_their_own_tickets_also_with_a_filter(
    customer: httpx.Client, other_customer: httpx.Client, agent: httpx.Client, db: Session
) -> None:
    word = _word()
    mine = [new_ticket(customer, title=f"My {word} order", priority_id=p) for p in (2, 4)]
    theirs = new_ticket(other_customer, title=f"Her {word} order", priority_id=2)
    _indexed(db, *mine, theirs)

    everything = _search(customer, word)
    urgent = _search(customer, word, priority_id=2)

    assert (sorted(_ids(everything)), everything["total"]) == (sorted(t["id"] for t in mine), 2)
    assert (_ids(urgent), urgent["total"]) == ([mine[0]["id"]], 1)
    assert _search(agent, word)["total"] == 3


def test_a_hit_shows_the_ticket_exactly_as_the_viewer_reads_it(
    customer: httpx.Client, agent: httpx.Client, db: Session
) -> None:
    word = _word()
    ticket = new_ticket(customer, title=f"{word} export", tags=["billing", "export"])
    assigned = agent.patch(f"/tickets/{ticket['id']}", json={"assigned_to": 4, "status_id": 2})
    assert assigned.status_code == 200, assigned.text
    for body, internal in (("We are on it", False), ("Probably the cron job", True)):
        comment = {"body": body, "internal": internal}
        assert agent.post(f"/tickets/{ticket['id']}/comments", json=comment).status_code == 201
    _indexed(db, ticket)

    for client in (agent, customer):
        [hit] = _search(client, word)["items"]
        assert hit["ticket"] == client.get(f"/tickets/{ticket['id']}").json()
