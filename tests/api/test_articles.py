"""The knowledge base: articles (CRUD, roles, drafts), their search, links to tickets and
suggestions, and bad input refused with nothing changed."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from shared.models import Article, OutboxEvent, TicketArticle, TicketHistory
from tests.helpers import new_ticket, problem_of
from tests.support.processes import ticketing

_LETTERS = str.maketrans("0123456789", "ghijklmnop")


def word() -> str:
    """A made-up word no other test uses (letters only: both engines keep it whole)."""
    return "kb" + uuid.uuid4().hex[:10].translate(_LETTERS)


def new_article(client: httpx.Client, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"title": f"Article {word()}", "body": f"Some *Markdown* {word()}"}
    body.update(overrides)
    response = client.post("/articles", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def refused(response: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    problem = problem_of(response)
    if field is not None:
        assert field in {error["field"] for error in problem.get("errors") or []}, problem
    return problem


def snapshot(db: Session) -> tuple[Any, ...]:
    """Everything an article write could change."""
    db.rollback()
    return (
        db.scalar(select(func.count()).select_from(Article)),
        db.scalar(select(func.max(Article.version))),
        db.scalar(select(func.count()).select_from(TicketArticle)),
        db.scalar(select(func.count()).select_from(TicketHistory)),
        db.scalar(select(func.count()).select_from(OutboxEvent)),
        db.scalar(text("SELECT count(*) FROM article_search")),
    )


def events_about_article(db: Session, article_id: int) -> list[dict[str, Any]]:
    db.rollback()
    rows = db.scalars(
        select(OutboxEvent).where(OutboxEvent.event_type.like("article.%")).order_by(OutboxEvent.id)
    )
    envelopes = [json.loads(row.payload) for row in rows]
    return [e for e in envelopes if e["data"]["article"]["id"] == article_id]


def ticket_events(db: Session, ticket_id: int, event_type: str) -> list[dict[str, Any]]:
    db.rollback()
    rows = db.scalars(
        select(OutboxEvent)
        .where(OutboxEvent.ticket_id == ticket_id, OutboxEvent.event_type == event_type)
        .order_by(OutboxEvent.id)
    )
    return [json.loads(row.payload) for row in rows]


def article_history(db: Session, ticket_id: int) -> list[TicketHistory]:
    db.rollback()
    query = select(TicketHistory).where(
        TicketHistory.ticket_id == ticket_id, TicketHistory.field == "article"
    )
    return list(db.scalars(query.order_by(TicketHistory.id)))


def ids(items: list[dict[str, Any]]) -> list[int]:
    return [item["article"]["id"] if "article" in item else item["id"] for item in items]


# --- create, read, update, delete --------------------------------------------------------------


def test_agent_writes_a_draft_with_tags_etag_and_event(agent: httpx.Client, db: Session) -> None:
    response = agent.post(
        "/articles",
        json={
            "title": "  Reset your password  ",
            "body": "# Steps\n1. Open *Settings*",
            "tags": "Login, password",
        },
    )
    assert response.status_code == 201, response.text
    article = response.json()
    assert article["title"] == "Reset your password"
    assert article["body"] == "# Steps\n1. Open *Settings*"
    assert article["tags"] == ["login", "password"]
    assert article["published"] is False
    assert article["published_at"] is None
    assert article["author"]["email"] == "sarah.johnson@example.com"
    assert article["version"] == 1
    assert response.headers["ETag"] == '"1"'
    assert response.headers["Location"] == f"/articles/{article['id']}"
    [event] = events_about_article(db, article["id"])
    assert event["type"] == "article.created"
    assert event["data"]["actor"]["email"] == "sarah.johnson@example.com"


def test_admin_publishes_at_once_and_anyone_signed_in_reads_it(
    admin: httpx.Client, customer: httpx.Client
) -> None:
    article = new_article(admin, published=True, tags=["billing"])
    assert article["published"] is True
    assert article["published_at"] is not None
    response = customer.get(f"/articles/{article['id']}")
    assert response.status_code == 200
    assert response.json() == article
    assert response.headers["ETag"] == '"1"'


def test_a_draft_is_not_found_for_customers_but_readable_for_agents(
    agent: httpx.Client, other_agent: httpx.Client, customer: httpx.Client
) -> None:
    draft = new_article(agent)
    refused(customer.get(f"/articles/{draft['id']}"), 404)
    assert other_agent.get(f"/articles/{draft['id']}").json()["id"] == draft["id"]


def test_reading_without_a_key_is_401(anonymous: httpx.Client, admin: httpx.Client) -> None:
    article = new_article(admin, published=True)
    refused(anonymous.get(f"/articles/{article['id']}"), 401)
    refused(anonymous.get("/articles"), 401)
    refused(anonymous.get("/articles/search", params={"query": "anything"}), 401)


def test_update_changes_only_sent_fields_bumps_version_and_records_changes(
    agent: httpx.Client, db: Session
) -> None:
    article = new_article(agent, tags=["old"])
    response = agent.patch(
        f"/articles/{article['id']}",
        json={"title": "A better title", "tags": ["new"], "published": True},
        headers={"If-Match": '"1"'},
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["title"] == "A better title"
    assert updated["body"] == article["body"]
    assert updated["tags"] == ["new"]
    assert updated["published"] is True
    assert updated["published_at"] is not None
    assert updated["version"] == 2
    assert response.headers["ETag"] == '"2"'
    assert updated["created_at"] == article["created_at"]
    assert updated["updated_at"] > article["updated_at"]
    event = events_about_article(db, article["id"])[-1]
    assert event["type"] == "article.updated"
    assert event["data"]["changes"] == {
        "title": {"from": article["title"], "to": "A better title"},
        "tags": {"from": ["old"], "to": ["new"]},
        "published": {"from": False, "to": True},
    }


def test_an_update_that_changes_nothing_keeps_the_version(agent: httpx.Client, db: Session) -> None:
    article = new_article(agent)
    before = snapshot(db)
    response = agent.patch(f"/articles/{article['id']}", json={"title": article["title"]})
    assert response.status_code == 200
    assert response.json()["version"] == 1
    assert snapshot(db) == before


def test_stale_if_match_is_412_and_changes_nothing(agent: httpx.Client, db: Session) -> None:
    article = new_article(agent)
    agent.patch(f"/articles/{article['id']}", json={"body": "Second edit"})
    before = snapshot(db)
    response = agent.patch(
        f"/articles/{article['id']}", json={"body": "Lost update"}, headers={"If-Match": '"1"'}
    )
    refused(response, 412, "If-Match")
    assert snapshot(db) == before
    assert agent.get(f"/articles/{article['id']}").json()["body"] == "Second edit"
    refused(agent.delete(f"/articles/{article['id']}", headers={"If-Match": '"1"'}), 412)
    assert snapshot(db) == before


def test_customer_cannot_write_articles_and_nothing_changes(
    customer: httpx.Client, agent: httpx.Client, db: Session
) -> None:
    published = new_article(agent, published=True)
    draft = new_article(agent)
    before = snapshot(db)
    refused(customer.post("/articles", json={"title": "Mine", "body": "Text"}), 403)
    for article in (published, draft):
        refused(customer.patch(f"/articles/{article['id']}", json={"title": "Hijacked"}), 403)
        refused(customer.delete(f"/articles/{article['id']}"), 403)
    assert snapshot(db) == before


def test_delete_removes_the_article_its_index_entry_and_its_links(
    agent: httpx.Client, customer: httpx.Client, db: Session
) -> None:
    token = word()
    article = new_article(agent, title=f"Doomed {token}", published=True)
    ticket = new_ticket(customer)
    agent.post(f"/tickets/{ticket['id']}/articles", json={"article_id": article["id"]})

    response = agent.delete(f"/articles/{article['id']}", headers={"If-Match": '"1"'})

    assert response.status_code == 204
    refused(agent.get(f"/articles/{article['id']}"), 404)
    assert agent.get("/articles/search", params={"query": token}).json()["total"] == 0
    assert agent.get(f"/tickets/{ticket['id']}/articles").json() == []
    unlinked = article_history(db, ticket["id"])[-1]
    assert (unlinked.old_value, unlinked.new_value) == (str(article["id"]), None)
    assert events_about_article(db, article["id"])[-1]["type"] == "article.deleted"
    assert ticket_events(db, ticket["id"], "ticket.updated")[-1]["data"]["changes"] == {
        "articles": {"from": [article["id"]], "to": []}
    }
    refused(agent.delete(f"/articles/{article['id']}"), 404)


# --- lists -------------------------------------------------------------------------------------


def test_list_pages_with_a_total_and_filters_by_tag_and_published(
    agent: httpx.Client, customer: httpx.Client
) -> None:
    tag = word()
    drafts = [new_article(agent, tags=[tag]) for _ in range(2)]
    published = [new_article(agent, tags=[tag], published=True) for _ in range(3)]

    page = agent.get("/articles", params={"tag": tag, "limit": 2, "sort": "-created_at"}).json()
    assert page["total"] == 5
    assert ids(page["items"]) == [published[2]["id"], published[1]["id"]]
    second = agent.get(
        "/articles", params={"tag": tag, "limit": 2, "offset": 4, "sort": "-created_at"}
    ).json()
    assert ids(second["items"]) == [drafts[0]["id"]]
    only_drafts = agent.get("/articles", params={"tag": tag, "published": False}).json()
    assert sorted(ids(only_drafts["items"])) == sorted(ids(drafts))

    seen = customer.get("/articles", params={"tag": tag, "sort": "created_at"}).json()
    assert ids(seen["items"]) == ids(published)
    assert seen["total"] == 3
    asked_for_drafts = customer.get("/articles", params={"tag": tag, "published": False}).json()
    assert (asked_for_drafts["items"], asked_for_drafts["total"]) == ([], 0)


# --- search ------------------------------------------------------------------------------------


def test_search_ranks_title_matches_above_body_matches(agent: httpx.Client) -> None:
    token = word()
    in_body = new_article(agent, title=f"Other {word()}", body=f"Mentions {token} once")
    in_title = new_article(agent, title=f"All about {token}", body="Nothing else")
    page = agent.get("/articles/search", params={"query": token}).json()
    assert ids(page["items"]) == [in_title["id"], in_body["id"]]
    assert page["total"] == 2
    best = page["items"][0]
    assert best["score"] > page["items"][1]["score"]
    assert f"<mark>{token}</mark>" in best["title_highlighted"]
    assert f"<mark>{token}</mark>" in page["items"][1]["snippet"]


def test_search_uses_the_ticket_search_rules(agent: httpx.Client) -> None:
    first, second = word(), word()
    both = new_article(agent, title=f"{first} {second}", body="Both words in a row")
    apart = new_article(agent, title=f"{second} then {first}", body="Both words, apart")
    only_one = new_article(agent, title=f"Only {first}", body="One word")

    def found(query: str) -> set[int]:
        response = agent.get("/articles/search", params={"query": query})
        assert response.status_code == 200, response.text
        return set(ids(response.json()["items"]))

    assert found(f"{first} {second}") == {both["id"], apart["id"]}
    assert found(f'"{first} {second}"') == {both["id"]}
    assert found(f"{first[:-3]}*") == {both["id"], apart["id"], only_one["id"]}
    # The engines' own operators are plain words here: no exclusion, no OR.
    assert found(f"{first} -{second}") == {both["id"], apart["id"]}
    assert only_one["id"] not in found(f"{first} OR {second}")


def test_search_sees_changes_at_once_and_hides_drafts_from_customers(
    agent: httpx.Client, customer: httpx.Client
) -> None:
    old, new = word(), word()
    article = new_article(agent, title=f"Guide {old}")
    assert ids(agent.get("/articles/search", params={"query": old}).json()["items"]) == [
        article["id"]
    ]
    assert customer.get("/articles/search", params={"query": old}).json()["total"] == 0

    agent.patch(f"/articles/{article['id']}", json={"title": f"Guide {new}", "published": True})

    assert agent.get("/articles/search", params={"query": old}).json()["total"] == 0
    seen = customer.get("/articles/search", params={"query": new}).json()
    assert ids(seen["items"]) == [article["id"]]


def test_search_filters_by_tag(agent: httpx.Client) -> None:
    token, tag = word(), word()
    tagged = new_article(agent, body=f"About {token}", tags=[tag])
    new_article(agent, body=f"Also about {token}")
    page = agent.get("/articles/search", params={"query": token, "tag": tag}).json()
    assert ids(page["items"]) == [tagged["id"]]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"query": 'unbalanced "quote'}, "query"),
        ({"query": "*** ---"}, "query"),
        ({"query": ""}, "query"),
        ({"query": "x" * 201}, "query"),
        ({}, "query"),
        ({"query": "fine", "limit": 0}, "limit"),
        ({"query": "fine", "limit": 101}, "limit"),
        ({"query": "fine", "published": "maybe"}, "published"),
    ],
    ids=["quote", "no-words", "empty", "too-long", "missing", "limit-0", "limit-101", "bool"],
)
def test_bad_search_is_422_naming_the_field(
    agent: httpx.Client, params: dict[str, Any], field: str
) -> None:
    refused(agent.get("/articles/search", params=params), 422, field)


# --- links between tickets and articles ---------------------------------------------------------


def test_agent_links_an_article_recorded_in_history_and_events(
    agent: httpx.Client, customer: httpx.Client, db: Session
) -> None:
    article = new_article(agent, published=True)
    ticket = new_ticket(customer)

    response = agent.post(
        f"/tickets/{ticket['number']}/articles", json={"article_id": article["id"]}
    )

    assert response.status_code == 201, response.text
    link = response.json()
    assert link["ticket_id"] == ticket["id"]
    assert link["article"]["id"] == article["id"]
    assert link["linked_by"]["email"] == "sarah.johnson@example.com"
    [row] = article_history(db, ticket["id"])
    assert (row.old_value, row.new_value, row.is_internal) == (None, str(article["id"]), False)
    [event] = ticket_events(db, ticket["id"], "ticket.updated")
    assert event["data"]["changes"] == {"articles": {"from": [], "to": [article["id"]]}}
    assert event["data"]["article"]["id"] == article["id"]
    assert ids(customer.get(f"/tickets/{ticket['id']}/articles").json()) == [article["id"]]


def test_linking_twice_is_200_and_changes_nothing(
    agent: httpx.Client, customer: httpx.Client, db: Session
) -> None:
    article = new_article(agent, published=True)
    ticket = new_ticket(customer)
    first = agent.post(f"/tickets/{ticket['id']}/articles", json={"article_id": article["id"]})
    before = snapshot(db)
    again = agent.post(f"/tickets/{ticket['id']}/articles", json={"article_id": article["id"]})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert snapshot(db) == before


def test_customer_sees_only_published_linked_articles_and_no_trace_of_drafts(
    agent: httpx.Client, customer: httpx.Client
) -> None:
    published = new_article(agent, published=True)
    draft = new_article(agent)
    ticket = new_ticket(customer)
    for article in (published, draft):
        agent.post(f"/tickets/{ticket['id']}/articles", json={"article_id": article["id"]})

    assert ids(agent.get(f"/tickets/{ticket['id']}/articles").json()) == [
        published["id"],
        draft["id"],
    ]
    assert ids(customer.get(f"/tickets/{ticket['id']}/articles").json()) == [published["id"]]
    history = customer.get(f"/tickets/{ticket['id']}/history").json()
    assert [h["new_value"] for h in history if h["field"] == "article"] == [str(published["id"])]


def test_unlinking_records_history_and_a_second_unlink_is_404(
    agent: httpx.Client, customer: httpx.Client, db: Session
) -> None:
    article = new_article(agent, published=True)
    ticket = new_ticket(customer)
    agent.post(f"/tickets/{ticket['id']}/articles", json={"article_id": article["id"]})

    response = agent.delete(f"/tickets/{ticket['id']}/articles/{article['id']}")

    assert response.status_code == 204
    assert agent.get(f"/tickets/{ticket['id']}/articles").json() == []
    row = article_history(db, ticket["id"])[-1]
    assert (row.old_value, row.new_value) == (str(article["id"]), None)
    assert ticket_events(db, ticket["id"], "ticket.updated")[-1]["data"]["changes"] == {
        "articles": {"from": [article["id"]], "to": []}
    }
    before = snapshot(db)
    refused(agent.delete(f"/tickets/{ticket['id']}/articles/{article['id']}"), 404)
    assert snapshot(db) == before


def test_customers_cannot_link_or_unlink_and_nothing_changes(
    agent: httpx.Client, customer: httpx.Client, other_customer: httpx.Client, db: Session
) -> None:
    article = new_article(agent, published=True)
    ticket = new_ticket(customer)
    agent.post(f"/tickets/{ticket['id']}/articles", json={"article_id": article["id"]})
    other = new_article(agent, published=True)
    before = snapshot(db)

    link = {"article_id": other["id"]}
    refused(customer.post(f"/tickets/{ticket['id']}/articles", json=link), 403)
    refused(customer.delete(f"/tickets/{ticket['id']}/articles/{article['id']}"), 403)
    # Someone else's ticket is not there at all for a customer.
    refused(other_customer.post(f"/tickets/{ticket['id']}/articles", json=link), 404)
    refused(other_customer.delete(f"/tickets/{ticket['id']}/articles/{article['id']}"), 404)
    refused(other_customer.get(f"/tickets/{ticket['id']}/articles"), 404)
    refused(other_customer.get(f"/tickets/{ticket['id']}/suggested-articles"), 404)
    assert snapshot(db) == before


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"article_id": 2_000_000_000}, 422, "article_id"),
        ({"article_id": 0}, 422, "article_id"),
        ({"article_id": "abc"}, 422, "article_id"),
        ({"article_id": 2**40}, 422, "article_id"),
        ({}, 422, "article_id"),
        ({"article_id": 1, "note": "extra"}, 422, "note"),
    ],
    ids=["unknown", "zero", "text", "huge", "missing", "unknown-field"],
)
def test_bad_link_request_is_refused_and_changes_nothing(
    agent: httpx.Client,
    customer: httpx.Client,
    db: Session,
    body: dict[str, Any],
    status: int,
    field: str,
) -> None:
    ticket = new_ticket(customer)
    before = snapshot(db)
    refused(agent.post(f"/tickets/{ticket['id']}/articles", json=body), status, field)
    assert snapshot(db) == before


def test_links_on_unknown_tickets_or_articles_are_404(agent: httpx.Client, db: Session) -> None:
    article = new_article(agent, published=True)
    before = snapshot(db)
    link = {"article_id": article["id"]}
    for ref in ("999999999", "TKT-99999999", "nonsense"):
        refused(agent.post(f"/tickets/{ref}/articles", json=link), 404)
        refused(agent.get(f"/tickets/{ref}/articles"), 404)
        refused(agent.get(f"/tickets/{ref}/suggested-articles"), 404)
    refused(agent.delete(f"/tickets/1/articles/{article['id']}"), 404)
    refused(agent.delete("/tickets/1/articles/abc"), 404)
    assert snapshot(db) == before


# --- suggestions -------------------------------------------------------------------------------


def test_suggestions_rank_published_articles_by_the_tickets_words(
    agent: httpx.Client, customer: httpx.Client
) -> None:
    problem, device, symptom = word(), word(), word()
    best = new_article(
        agent, title=f"Fixing {problem} on {device}", body=f"When {symptom} shows", published=True
    )
    partial = new_article(agent, title=f"About {device}", body="General notes", published=True)
    draft = new_article(agent, title=f"{problem} {device} {symptom}", body="Draft")
    unrelated = new_article(agent, title=f"Other {word()}", published=True)
    ticket = new_ticket(
        customer,
        title=f"The {problem} again",
        description=f"My {device} shows {symptom} since Monday",
    )

    response = customer.get(f"/tickets/{ticket['id']}/suggested-articles", params={"limit": 20})

    assert response.status_code == 200, response.text
    suggested = [
        i
        for i in ids(response.json())
        if i in {best["id"], partial["id"], draft["id"], unrelated["id"]}
    ]
    assert suggested == [best["id"], partial["id"]]
    assert {hit["score"] for hit in response.json()} == {None}  # customers: the order alone
    staff = agent.get(f"/tickets/{ticket['id']}/suggested-articles", params={"limit": 20}).json()
    assert ids(staff) == ids(response.json())
    assert staff[0]["score"] >= staff[-1]["score"]


def test_suggestions_use_the_tickets_tags_and_honour_the_limit(
    agent: httpx.Client, customer: httpx.Client
) -> None:
    tag = word()
    tagged = [new_article(agent, tags=[tag], published=True) for _ in range(3)]
    ticket = new_ticket(customer, title="Help", description="It does not work", tags=[tag])
    two = agent.get(f"/tickets/{ticket['id']}/suggested-articles", params={"limit": 2}).json()
    assert len(two) == 2
    assert set(ids(two)) <= set(ids(tagged))


def test_a_ticket_of_only_common_words_gets_no_suggestions(
    agent: httpx.Client, customer: httpx.Client
) -> None:
    ticket = new_ticket(customer, title="Help me", description="It is not what it was, is it?")
    response = agent.get(f"/tickets/{ticket['id']}/suggested-articles")
    assert (response.status_code, response.json()) == (200, [])


@pytest.mark.parametrize("limit", ["0", "21", "many"])
def test_bad_suggestion_limit_is_422(
    agent: httpx.Client, customer: httpx.Client, limit: str
) -> None:
    ticket = new_ticket(customer)
    refused(
        agent.get(f"/tickets/{ticket['id']}/suggested-articles", params={"limit": limit}),
        422,
        "limit",
    )


# --- bad article input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"body": "No title"}, "title"),
        ({"title": "   ", "body": "Blank title"}, "title"),
        ({"title": "x" * 201, "body": "Long title"}, "title"),
        ({"title": "No body"}, "body"),
        ({"title": "Huge", "body": "x" * 50_001}, "body"),
        ({"title": "Tags", "body": "b", "tags": ["bad/tag"]}, "tags"),
        ({"title": "Tags", "body": "b", "tags": [f"t{i}" for i in range(21)]}, "tags"),
        ({"title": "Flag", "body": "b", "published": "perhaps"}, "published"),
        ({"title": "Typo", "body": "b", "publish": True}, "publish"),
    ],
    ids=[
        "no-title",
        "blank-title",
        "long-title",
        "no-body",
        "huge-body",
        "bad-tag",
        "many-tags",
        "bad-flag",
        "unknown-field",
    ],
)
def test_invalid_article_is_422_naming_the_field_and_changes_nothing(
    agent: httpx.Client, db: Session, body: dict[str, Any], field: str
) -> None:
    before = snapshot(db)
    refused(agent.post("/articles", json=body), 422, field)
    assert snapshot(db) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": None}, "title"),
        ({"body": None}, "body"),
        ({"published": None}, "published"),
        ({"body": "x" * 50_001}, "body"),
        ({"author_id": 1}, "author_id"),
    ],
    ids=["null-title", "null-body", "null-flag", "huge-body", "unknown-field"],
)
def test_invalid_update_is_422_and_changes_nothing(
    agent: httpx.Client, db: Session, body: dict[str, Any], field: str
) -> None:
    article = new_article(agent)
    before = snapshot(db)
    refused(agent.patch(f"/articles/{article['id']}", json=body), 422, field)
    assert snapshot(db) == before


def test_malformed_json_is_400_and_changes_nothing(
    agent: httpx.Client, customer: httpx.Client, db: Session
) -> None:
    article = new_article(agent)
    ticket = new_ticket(customer)
    before = snapshot(db)
    for method, path in [
        ("POST", "/articles"),
        ("PATCH", f"/articles/{article['id']}"),
        ("POST", f"/tickets/{ticket['id']}/articles"),
    ]:
        response = agent.request(
            method,
            path,
            content=b'{"title": "half',
            headers={"Content-Type": "application/json"},
        )
        refused(response, 400)
    assert snapshot(db) == before


def test_body_over_the_request_limit_is_413_and_changes_nothing(
    agent: httpx.Client, db: Session
) -> None:
    before = snapshot(db)
    body = {"title": "Too big", "body": "x" * 1_100_000}
    refused(agent.post("/articles", json=body), 413)
    assert snapshot(db) == before


@pytest.mark.parametrize("path", ["/articles/999999999", "/articles/abc", "/articles/0"])
def test_unknown_article_is_404_for_every_method(
    agent: httpx.Client, db: Session, path: str
) -> None:
    before = snapshot(db)
    refused(agent.get(path), 404)
    refused(agent.patch(path, json={"title": "New"}), 404)
    refused(agent.delete(path), 404)
    assert snapshot(db) == before


def test_idempotency_key_replays_the_first_article(agent: httpx.Client, db: Session) -> None:
    key = f"kb-{uuid.uuid4().hex}"
    body = {"title": f"Once {word()}", "body": "Only one"}
    first = agent.post("/articles", json=body, headers={"Idempotency-Key": key})
    before = snapshot(db)
    again = agent.post("/articles", json=body, headers={"Idempotency-Key": key})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert snapshot(db) == before


def test_sample_data_suggests_the_password_article_for_the_login_ticket(
    customer: httpx.Client,
) -> None:
    suggested = customer.get("/tickets/TKT-001/suggested-articles").json()
    assert suggested[0]["article"]["title"] == "Resetting your password"
    assert all(hit["article"]["published"] for hit in suggested)
    titles = {hit["article"]["title"] for hit in suggested}
    assert "Dark mode: status of the request" not in titles


def test_reindex_command_restores_a_lost_article_index_entry(
    agent: httpx.Client, db: Session, database_url: str
) -> None:
    token = word()
    article = new_article(agent, title=f"Recovered {token}", published=True)
    key = "article_id" if db.get_bind().dialect.name == "postgresql" else "rowid"
    db.execute(text(f"DELETE FROM article_search WHERE {key} = :id"), {"id": article["id"]})
    assert agent.get("/articles/search", params={"query": token}).json()["total"] == 0

    ticketing("reindex", env={"DATABASE_URL": database_url})

    found = agent.get("/articles/search", params={"query": token}).json()
    assert ids(found["items"]) == [article["id"]]


def test_unpublishing_hides_the_article_from_customers_again(
    agent: httpx.Client, customer: httpx.Client
) -> None:
    article = new_article(agent, published=True)
    ticket = new_ticket(customer)
    agent.post(f"/tickets/{ticket['id']}/articles", json={"article_id": article["id"]})

    response = agent.patch(f"/articles/{article['id']}", json={"published": False})

    assert response.json()["published_at"] is None
    refused(customer.get(f"/articles/{article['id']}"), 404)
    assert customer.get(f"/tickets/{ticket['id']}/articles").json() == []
    assert ids(agent.get(f"/tickets/{ticket['id']}/articles").json()) == [article["id"]]


# --- highlights and scores ---------------------------------------------------------------------


def test_search_highlights_are_escaped_html_with_only_our_marks(
    agent: httpx.Client, customer: httpx.Client
) -> None:
    token = word()
    new_article(
        agent,
        title=f"<b>{token}</b> & co",
        body=f'<script>alert(1)</script> <img src=x onerror="alert(2)"> fix the {token} here',
        published=True,
    )
    for client in (agent, customer):
        [hit] = client.get("/articles/search", params={"query": token}).json()["items"]
        assert hit["title_highlighted"] == f"&lt;b&gt;<mark>{token}</mark>&lt;/b&gt; &amp; co"
        assert set(re.findall(r"<[^>]*>", hit["snippet"])) == {"<mark>", "</mark>"}
        assert f"<mark>{token}</mark>" in hit["snippet"]


def test_customers_get_no_score_and_drafts_do_not_move_their_answer(
    agent: httpx.Client, customer: httpx.Client
) -> None:
    token = word()
    new_article(agent, title=f"All about {token}", body=f"{token} {token}", published=True)
    new_article(agent, title=f"More on {token}", body="Once", published=True)
    ticket = new_ticket(customer, title=f"Question on {token}")
    before = customer.get("/articles/search", params={"query": token}).json()
    suggested_before = customer.get(f"/tickets/{ticket['id']}/suggested-articles").json()

    for _ in range(3):
        new_article(agent, title=f"Draft {token} {token}", body=f"{token} again")

    assert customer.get("/articles/search", params={"query": token}).json() == before
    assert customer.get(f"/tickets/{ticket['id']}/suggested-articles").json() == suggested_before
    assert [hit["score"] for hit in before["items"]] == [None, None]
    assert suggested_before
    assert all(hit["score"] is None for hit in suggested_before)
    staff = agent.get("/articles/search", params={"query": token}).json()["items"]
    assert len(staff) == 5
    assert all(isinstance(hit["score"], float) for hit in staff)


# --- history of links ----------------------------------------------------------------------------


def _linked_in_history(client: httpx.Client, ticket_id: int) -> list[str | None]:
    history = client.get(f"/tickets/{ticket_id}/history").json()
    return [h["new_value"] for h in history if h["field"] == "article"]


def test_link_history_follows_the_articles_current_visibility(
    agent: httpx.Client, customer: httpx.Client
) -> None:
    article = new_article(agent, published=True)
    ticket = new_ticket(customer)
    agent.post(f"/tickets/{ticket['id']}/articles", json={"article_id": article["id"]})
    linked = [str(article["id"])]
    assert _linked_in_history(customer, ticket["id"]) == linked

    agent.patch(f"/articles/{article['id']}", json={"published": False})
    assert _linked_in_history(customer, ticket["id"]) == []
    assert _linked_in_history(agent, ticket["id"]) == linked

    agent.patch(f"/articles/{article['id']}", json={"published": True})
    assert _linked_in_history(customer, ticket["id"]) == linked


def test_a_draft_linked_then_published_shows_in_the_customers_history(
    agent: httpx.Client, customer: httpx.Client
) -> None:
    draft = new_article(agent)
    ticket = new_ticket(customer)
    agent.post(f"/tickets/{ticket['id']}/articles", json={"article_id": draft["id"]})
    assert _linked_in_history(customer, ticket["id"]) == []

    agent.patch(f"/articles/{draft['id']}", json={"published": True})

    assert _linked_in_history(customer, ticket["id"]) == [str(draft["id"])]


def test_a_deleted_articles_link_history_is_staff_only(
    agent: httpx.Client, customer: httpx.Client
) -> None:
    article = new_article(agent, published=True)
    ticket = new_ticket(customer)
    agent.post(f"/tickets/{ticket['id']}/articles", json={"article_id": article["id"]})

    assert agent.delete(f"/articles/{article['id']}").status_code == 204

    history = customer.get(f"/tickets/{ticket['id']}/history").json()
    assert [h for h in history if h["field"] == "article"] == []
    assert _linked_in_history(agent, ticket["id"]) == [str(article["id"]), None]
