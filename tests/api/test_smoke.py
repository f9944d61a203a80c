from __future__ import annotations

import httpx

from tests.helpers import new_ticket, problem_of


def test_sample_ticket_one_is_johns_login_problem(agent: httpx.Client) -> None:
    ticket = agent.get("/tickets/TKT-001").json()
    assert ticket["title"] == "Cannot log into account after password change"
    assert ticket["requester"]["name"] == "John Doe"
    assert ticket["tags"] == ["account", "login", "password"]


def test_request_without_key_is_401(anonymous: httpx.Client) -> None:
    problem_of(anonymous.get("/tickets"))


def test_customer_creates_own_ticket(customer: httpx.Client) -> None:
    ticket = new_ticket(customer)
    assert ticket["requester"]["id"] == 1
