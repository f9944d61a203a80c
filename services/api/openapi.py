"""The OpenAPI document, with the problem+json error responses every operation can give."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from services.api.errors import PROBLEM_CONTENT_TYPE, TITLES

_PUBLIC_PATHS = {"/health", "/ready"}
_READ_ERRORS = (400, 401, 403, 404, 422)
_WRITE_ERRORS = (*_READ_ERRORS, 409, 412, 413)


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
    return {"description": TITLES[status], "content": {PROBLEM_CONTENT_TYPE: {"schema": schema}}}


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
                errors = _READ_ERRORS if method in {"get", "head"} else _WRITE_ERRORS
                responses = operation.setdefault("responses", {})
                for status in errors:
                    responses[str(status)] = _problem_response(status)
        app.openapi_schema = schema
        return schema

    return openapi
