"""Reference data for agents picking valid ids: categories, priorities and statuses, as tools
and as resources (the same lists `GET /categories`, `/priorities` and `/statuses` return)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations
from pydantic import BaseModel
from sqlalchemy.orm import Session

from services.api.custom_fields import service as custom_fields
from services.api.custom_fields.schemas import CustomFieldOut
from services.api.mcp.calls import add_tool, call_as_caller, read_shared_data
from services.api.reference import service as reference
from services.api.reference.schemas import CategoryOut, PriorityOut, StatusOut
from shared.models import Category, PriorityLevel, Status, User

_READ = ToolAnnotations(readOnlyHint=True, idempotentHint=True, openWorldHint=False)


def _categories(session: Session) -> list[CategoryOut]:
    return [CategoryOut.model_validate(row) for row in reference.list_rows(session, Category)]


def _priorities(session: Session) -> list[PriorityOut]:
    return [PriorityOut.model_validate(row) for row in reference.list_rows(session, PriorityLevel)]


def _statuses(session: Session) -> list[StatusOut]:
    return [StatusOut.model_validate(row) for row in reference.list_rows(session, Status)]


async def list_categories(ctx: Context) -> list[CategoryOut]:
    """Ticket categories with their ids and SLA hours; inactive ones (`active: false`) take
    no new tickets. Use an id as `category_id`."""
    return await call_as_caller(ctx, lambda session, _caller: _categories(session), write=False)


async def list_priorities(ctx: Context) -> list[PriorityOut]:
    """Priority levels, most urgent first (rank 1), with SLA and first-response hours. Use an
    id as `priority_id`."""
    return await call_as_caller(ctx, lambda session, _caller: _priorities(session), write=False)


async def list_statuses(ctx: Context) -> list[StatusOut]:
    """Ticket statuses in workflow order: `is_closed` marks resolving/closing ones,
    `pauses_sla` the ones that stop the SLA clock. Use an id as `status_id`."""
    return await call_as_caller(ctx, lambda session, _caller: _statuses(session), write=False)


def _custom_fields(session: Session, caller: User) -> list[CustomFieldOut]:
    rows = custom_fields.list_fields(session, viewer=caller)
    return [CustomFieldOut.model_validate(row) for row in rows if row.active]


async def list_custom_fields(ctx: Context) -> list[CustomFieldOut]:
    """The custom fields tickets have (customers: those visible to them): key, type, options,
    the categories they apply to (empty: all) and whether they are required at creation or to
    resolve. Set values by key in `custom_fields`."""
    return await call_as_caller(ctx, _custom_fields, write=False)


def _as_json(rows: Sequence[BaseModel]) -> str:
    return json.dumps([row.model_dump(mode="json") for row in rows])


async def categories_resource() -> str:
    """The ticket categories as JSON (GET /categories)."""
    return _as_json(await read_shared_data(_categories))


async def priorities_resource() -> str:
    """The priority levels as JSON, most urgent first (GET /priorities)."""
    return _as_json(await read_shared_data(_priorities))


async def statuses_resource() -> str:
    """The ticket statuses as JSON, in workflow order (GET /statuses)."""
    return _as_json(await read_shared_data(_statuses))


def register(server: MCPServer) -> None:
    add_tool(server, list_categories, annotations=_READ)
    add_tool(server, list_priorities, annotations=_READ)
    add_tool(server, list_statuses, annotations=_READ)
    add_tool(server, list_custom_fields, annotations=_READ)
    resources = (
        ("ticketing://categories", "categories", categories_resource),
        ("ticketing://priorities", "priorities", priorities_resource),
        ("ticketing://statuses", "statuses", statuses_resource),
    )
    for uri, name, read in resources:
        server.resource(uri, name=name, mime_type="application/json")(read)
