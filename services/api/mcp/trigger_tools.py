"""Triggers for staff's agents: list them, and try one on a ticket without changing anything."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field
from sqlalchemy.orm import Session

from services.api.mcp.calls import add_tool, call_as_caller
from services.api.mcp.ticket_tools import TicketRef
from services.api.triggers import service as triggers
from services.api.triggers.schemas import TriggerOut, TriggerTest, TriggerTestOut
from shared.models import User

_READ = ToolAnnotations(readOnlyHint=True, idempotentHint=True, openWorldHint=False)
TriggerId = Annotated[int, Field(ge=1, le=2_147_483_647, description="The trigger's id.")]


async def list_triggers(ctx: Context) -> list[TriggerOut]:
    """The triggers in the order the worker runs them on each ticket event (staff only): name,
    active flag, the event types they run on (empty: all), their conditions (all of `all`,
    one of `any`) and actions."""

    def work(session: Session, caller: User) -> list[TriggerOut]:
        rows = triggers.list_triggers(session, viewer=caller)
        return [TriggerOut.model_validate(row) for row in rows]

    return await call_as_caller(ctx, work, write=False)


async def test_trigger(ctx: Context, trigger_id: TriggerId, ticket: TicketRef) -> TriggerTestOut:
    """Run a trigger against a ticket without changing anything (staff only): whether its
    conditions hold for the ticket now and what each of its actions would do."""

    def work(session: Session, caller: User) -> TriggerTestOut:
        result = triggers.test_trigger(
            session, viewer=caller, trigger_id=trigger_id, request=TriggerTest(ticket=str(ticket))
        )
        return TriggerTestOut.model_validate(result)

    return await call_as_caller(ctx, work, write=False)


def register(server: MCPServer) -> None:
    add_tool(server, list_triggers, annotations=_READ)
    add_tool(server, test_trigger, annotations=_READ)
