"""Search over the API: a page's hits with their snippets, the total, and who sees what. The
worker indexes tickets in production; here the same function runs in-process."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
from sqlalchemy import update
from sqlalchemy.orm import Session

from shared.models import Ticket
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


def _tags_in(html: str) -> set[str]:
    return set(re.findall(r"<[^>]*>", html))


def test_stored_html_comes_back_escaped_with_only_our_marks(
    customer: httpx.Client, agent: httpx.Client, db: Session
) -> None:
    word = _word()
    ticket = new_ticket(
        customer,
        title=f"<script>alert(1)</script> Tom & {word}",
        description=f'<img src=x onerror="alert(2)"> <mark>fake</mark> the {word} broke',
    )
    _indexed(db, ticket)

    for client in (customer, agent):
        [hit] = _search(client, word)["items"]
        assert hit["title_highlighted"] == (
            f"&lt;script&gt;alert(1)&lt;/script&gt; Tom &amp; <mark>{word}</mark>"
        )
        assert _tags_in(hit["snippet"]) == {"<mark>", "</mark>"}
        assert f"<mark>{word}</mark>" in hit["snippet"]
        assert "<mark>fake</mark>" not in hit["snippet"]


def test_stored_text_cannot_forge_a_mark(agent: httpx.Client, db: Session) -> None:
    """Text stored before control characters were refused, holding the engines' markers."""
    word = _word()
    ticket = new_ticket(agent, title=f"Plain {word}")
    db.execute(
        update(Ticket)
        .where(Ticket.id == ticket["id"])
        .values(
            title=f"\x02forged\x03 {word}",
            description=f"\x02forged\x03 <b>bold</b> {word} and more words around it",
        )
    )
    _indexed(db, ticket)

    [hit] = _search(agent, word)["items"]

    assert hit["title_highlighted"] == f"forged <mark>{word}</mark>"
    assert hit["snippet"].count("<mark>") == 1
    assert "<mark>forged</mark>" not in hit["snippet"]
    assert "<b>" not in hit["snippet"]


def test_a_customers_answer_gives_nothing_away_about_other_customers_tickets(
    customer: httpx.Client, other_customer: httpx.Client, agent: httpx.Client, db: Session
) -> None:
    word = _word()
    mine = [
        new_ticket(customer, title=f"{word} invoice", description=f"The {word} {word} is wrong"),
        new_ticket(customer, title=f"Second {word}", description="Also about it"),
    ]
    _indexed(db, *mine)
    before = _search(customer, word)
    staff_before = _search(agent, word)

    theirs = [
        new_ticket(other_customer, title=f"{word} {word}", description=f"{word} again")
        for _ in range(3)
    ]
    _indexed(db, *theirs)
    after = _search(customer, word)

    assert after == before
    assert sorted(_ids(after)) == sorted(t["id"] for t in mine)
    assert [hit["score"] for hit in after["items"]] == [None, None]
    # Staff keep their scores: higher is better, best first.
    scores = [hit["score"] for hit in staff_before["items"]]
    assert all(isinstance(score, float) for score in scores)
    assert scores == sorted(scores, reverse=True)
