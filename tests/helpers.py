"""Small builders for test data, through the API."""

from __future__ import annotations

import itertools
from typing import Any

import httpx

_counter = itertools.count(1)


def new_ticket(client: httpx.Client, **overrides: Any) -> dict[str, Any]:
    """Create a ticket through the API (category 1, priority 3 unless overridden) and return it."""
    n = next(_counter)
    body: dict[str, Any] = {
        "title": f"Test ticket {n}",
        "description": f"Something is broken, case {n}",
        "category_id": 1,
        "priority_id": 3,
    }
    body.update(overrides)
    response = client.post("/tickets", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def problem_of(response: httpx.Response) -> dict[str, Any]:
    """The problem+json body of an error response, checking its shape on the way."""
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    body = dict(response.json())
    assert body["status"] == response.status_code
    assert {"type", "title", "status", "detail"} <= body.keys()
    return body
