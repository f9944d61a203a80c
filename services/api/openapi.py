"""The OpenAPI document, with the problem+json error responses each operation can give:
derived in one place from what the operation takes (ids in its path, a body, If-Match), so a
router documents only its successes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from services.api.errors import PROBLEM_CONTENT_TYPE, TITLES

_PUBLIC_PATHS = {"/health", "/ready"}
_CHANGES = {"post", "put", "patch"}
_WRITES = {*_CHANGES, "delete"}
# Tickets and articles carry a version: a write racing another one on the same row is refused
# with 412 even without If-Match (a comment can set the ticket's first response, say).
_VERSIONED_PREFIXES = ("/tickets/{ticket_ref}", "/articles/{article_id}")
_SECONDS = {"type": "integer", "minimum": 1}
_COUNT = {"type": "integer", "minimum": 0}
# name -> (description, schema), by status.
_HEADERS: dict[int, dict[str, tuple[str, dict[str, Any]]]] = {
    401: {"WWW-Authenticate": ("The scheme to authenticate with: Bearer", {"type": "string"})},
    429: {
        "Retry-After": ("Seconds until the window starts again", _SECONDS),
        "RateLimit-Limit": ("Requests allowed in the window", _COUNT),
        "RateLimit-Remaining": ("Requests left in the window", _COUNT),
        "RateLimit-Reset": ("Seconds until the window starts again", _SECONDS),
    },
    503: {"Retry-After": ("Seconds to wait before retrying", _SECONDS)},
}


def error_statuses(path: str, method: str, operation: dict[str, Any]) -> list[int]:
    """The error statuses an authenticated operation can answer, from what it takes.

    Every one: 401 (no valid key), 403 (the role does not allow it), 429 (past a rate limit)
    and 503 (the database stays busy or away: authenticating reads it)."""
    parameters = operation.get("parameters", [])
    has_body = "requestBody" in operation
    statuses = {401, 403, 429, 503}
    if "{" in path:
        statuses.add(404)  # the id names nothing (or nothing the caller may see)
    if parameters or has_body:
        statuses.add(422)  # a value out of range, an unknown reference
    if has_body:
        statuses |= {400, 413}  # not JSON; larger than MAX_REQUEST_BODY_BYTES
    if method in _CHANGES:
        statuses.add(409)  # a duplicate name, a state that forbids it, a race for a unique row
    takes_if_match = any(
        param.get("in") == "header" and param.get("name", "").lower() == "if-match"
        for param in parameters
    )
    if takes_if_match or (method in _WRITES and path.startswith(_VERSIONED_PREFIXES)):
        statuses.add(412)
    return sorted(statuses)


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, the body of every error response."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None


def _problem_response(status: int) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Problem"}
    response: dict[str, Any] = {
        "description": TITLES[status],
        "content": {PROBLEM_CONTENT_TYPE: {"schema": schema}},
    }
    if status in _HEADERS:
        response["headers"] = {
            name: {"description": description, "schema": schema}
            for name, (description, schema) in _HEADERS[status].items()
        }
    return response


def problem_openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """An `app.openapi` replacement documenting our error shape instead of FastAPI's 422 body."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
            webhooks=app.webhooks.routes,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        components.update(
            Problem.model_json_schema(ref_template="#/components/schemas/{model}").pop("$defs", {})
        )
        components["Problem"] = Problem.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        components["Problem"].pop("$defs", None)
        schema["components"]["securitySchemes"] = {
            "apiKey": {"type": "http", "scheme": "bearer", "description": "An API key"}
        }
        for path, operations in schema.get("paths", {}).items():
            if path in _PUBLIC_PATHS:
                continue
            for method, operation in operations.items():
                operation["security"] = [{"apiKey": []}]
                responses = operation.setdefault("responses", {})
                # FastAPI's own 422 counts parameters hidden from the document (the
                # Authorization header): ours says only what a client can get wrong.
                responses.pop("422", None)
                for status in error_statuses(path, method, operation):
                    responses[str(status)] = _problem_response(status)
        readiness = schema.get("paths", {}).get("/ready", {}).get("get")
        if readiness is not None:
            readiness["responses"]["503"] = {
                "description": "Not ready: the database is unreachable (the same body as 200)",
                "content": {"application/json": {"schema": {}}},
            }
        app.openapi_schema = schema
        return schema

    return openapi
