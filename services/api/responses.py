"""Answers serialized once, by pydantic-core.

A route that returns a model declared as its `response_model` has FastAPI validate it again and
serialize it in a second pass; for the read paths users hit most (a ticket, a page of tickets,
search hits, the dashboard) that doubles the cost of the answer. The routes keep their
`response_model` for the OpenAPI document and return this instead.
"""

from __future__ import annotations

from fastapi import Response
from pydantic import BaseModel


def json_response(
    model: BaseModel, *, headers: dict[str, str] | None = None, status_code: int = 200
) -> Response:
    return Response(
        model.model_dump_json(),
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )


def etag(version: int) -> dict[str, str]:
    """The ETag header of a versioned row; `If-Match` sends it back."""
    return {"ETag": f'"{version}"'}
