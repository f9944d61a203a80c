"""How a tool call reaches the service layer: as the API key's user, in one transaction, in turn.

A tool call is handled like a REST request, through the same unit of work: a write runs in a
savepoint of the process's batched write transaction (so MCP and REST writes queue together)
and returns once that has committed; the sync service code runs in a worker thread and resolves
the caller from the request's bearer key in that same transaction. Domain errors become tool
errors carrying the problem's message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from starlette.requests import Request

from services.api.auth.keys import authenticate
from shared.errors import DomainError
from shared.models import User
from shared.unit_of_work import read_session, write_savepoint

T = TypeVar("T")

Work = Callable[[Session, User], T]


def add_tool(server: MCPServer, tool: Callable[..., Any], *, annotations: ToolAnnotations) -> None:
    """Register `tool`, its docstring made one paragraph: the description an agent reads."""
    description = " ".join((tool.__doc__ or "").split())
    server.add_tool(tool, description=description, annotations=annotations)


def problem_message(error: DomainError) -> str:
    """The problem as a REST client would read it: title, detail and the field at fault."""
    message = f"{error.title}: {error.detail}"
    return f"{message} (field: {error.field})" if error.field else message


def invalid_input_message(error: ValidationError) -> str:
    """Pydantic's errors in the API's words: `field: message` for each."""
    parts = []
    for detail in error.errors():
        field = ".".join(str(part) for part in detail["loc"])
        parts.append(f"{field}: {detail['msg']}" if field else str(detail["msg"]))
    return "Invalid input: " + "; ".join(parts)


Model = TypeVar("Model", bound=BaseModel)


def parse_input(model: type[Model], values: dict[str, Any]) -> Model:
    """Tool arguments as the REST request body they stand for, validated by the same rules."""
    try:
        return model.model_validate(values)
    except ValidationError as error:
        raise ToolError(invalid_input_message(error)) from error


def if_match(expected_version: int | None) -> str | None:
    """A tool's `expected_version` as the REST API's If-Match value."""
    return str(expected_version) if expected_version is not None else None


def _http_request(ctx: Context[Any]) -> Request:
    request = ctx.request_context.request
    if not isinstance(request, Request):
        # Only the HTTP transport is served: the bearer key travels in the request headers.
        raise ToolError("this server answers over streamable HTTP only")
    return request


async def call_as_caller(ctx: Context[Any], work: Work[T], *, write: bool) -> T:
    """Run `work(session, caller)` for the API key that sent this tool call."""
    request = _http_request(ctx)
    authorization = request.headers.get("authorization")

    def run(session: Session) -> T:
        return work(session, authenticate(session, authorization=authorization))

    try:
        async with write_savepoint() if write else read_session() as session:
            return await anyio.to_thread.run_sync(lambda: run(session))
    except DomainError as error:
        raise ToolError(problem_message(error)) from error
    except ValidationError as error:
        raise ToolError(invalid_input_message(error)) from error


async def read_shared_data(read: Callable[[Session], T]) -> T:
    """Run `read(session)` for data every authenticated user may see (the reference data).

    For resources, which the SDK hands no request context: the HTTP gate has already
    refused requests without a valid key.
    """
    async with read_session() as session:
        return await anyio.to_thread.run_sync(lambda: read(session))
