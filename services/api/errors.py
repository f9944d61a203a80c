"""One error shape everywhere: RFC 9457 problem details, naming the field at fault."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.errors import (
    Conflict,
    DomainError,
    Forbidden,
    IdempotencyKeyReused,
    InvalidInput,
    InvalidReference,
    NotFound,
    StaleVersion,
    TooLarge,
    Unauthenticated,
    Unavailable,
)

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"

STATUS_BY_ERROR: dict[type[DomainError], int] = {
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    StaleVersion: 412,
    TooLarge: 413,
    InvalidReference: 422,
    InvalidInput: 422,
    IdempotencyKeyReused: 422,
    Unavailable: 503,
}

TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Precondition failed",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


def problem(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_CONTENT_TYPE, headers=headers)


_LOCATIONS = {"body", "query", "path", "header"}


def _field_path(location: tuple[Any, ...] | list[Any]) -> str:
    """`title`, `limit`, `tags.3`: the input's own name, as domain errors name it too."""
    parts = [str(part) for part in location]
    if len(parts) > 1 and parts[0] in _LOCATIONS:
        parts = parts[1:]
    return ".".join(parts)


async def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    status = next((code for cls, code in STATUS_BY_ERROR.items() if isinstance(exc, cls)), 400)
    errors = [{"field": exc.field, "message": exc.detail}] if exc.field else None
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    if status == 503:
        headers = {"Retry-After": "1"}
    return problem(status, exc.detail, title=exc.title, errors=errors, headers=headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": _field_path(err.get("loc", ())), "message": err.get("msg", "invalid")}
        for err in exc.errors()
    ]
    if any(err.get("type") == "json_invalid" for err in exc.errors()):
        return problem(400, "the request body is not valid JSON", errors=errors)
    path_errors = [
        error
        for error, raw in zip(errors, exc.errors(), strict=True)
        if tuple(raw.get("loc", ()))[:1] == ("path",)
    ]
    if path_errors:
        # /users/abc names nothing, just like /users/999999: not found, not a bad request.
        return problem(404, "nothing exists at this path", errors=path_errors)
    fields = ", ".join(e["field"] for e in errors)
    return problem(422, f"invalid value for: {fields}", errors=errors)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return problem(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}) or None)


async def _stale_data(_request: Request, _exc: Exception) -> JSONResponse:
    return problem(412, "the ticket was changed by someone else meanwhile; fetch it and retry")


def _is_unique_violation(exc: IntegrityError) -> bool:
    original = exc.orig
    return getattr(original, "sqlstate", None) == "23505" or "UNIQUE constraint failed" in str(
        original
    )


async def _integrity_error(request: Request, exc: Exception) -> JSONResponse:
    """Two requests raced to create the same unique thing: the loser gets 409, not a 500."""
    assert isinstance(exc, IntegrityError)
    if _is_unique_violation(exc):
        return problem(409, "this conflicts with an existing record; nothing was changed")
    logger.error("integrity error in %s %s: %s", request.method, request.url.path, exc)
    return unexpected_error()


async def _data_error(_request: Request, exc: Exception) -> JSONResponse:
    """A value the database itself refuses (a NUL character on PostgreSQL, say)."""
    logger.info("value refused by the database: %s", exc)
    return problem(422, "a value in the request cannot be stored; nothing was changed")


async def _database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    """The database is busy beyond the timeout or unreachable: nothing was committed."""
    logger.error("database unavailable: %s", exc)
    return problem(
        503,
        "the database is busy or unreachable; nothing was changed, retry shortly",
        headers={"Retry-After": "1"},
    )


def unexpected_error() -> JSONResponse:
    return problem(500, "the server failed to handle this request; nothing was changed")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(StaleDataError, _stale_data)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(DataError, _data_error)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(PoolTimeout, _database_unavailable)
