"""Automations for staff's agents: list them, and try one on a ticket without changing
anything."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field
from sqlalchemy.orm import Session

from services.api.automations import service as automations
from services.api.automations.schemas import AutomationOut, AutomationTest, AutomationTestOut
from services.api.mcp.calls import add_tool, call_as_caller
from services.api.mcp.ticket_tools import TicketRef
from shared.models import User

_READ = ToolAnnotations(readOnlyHint=True, idempotentHint=True, openWorldHint=False)
AutomationId = Annotated[int, Field(ge=1, le=2_147_483_647, description="The automation's id.")]


async def list_automations(ctx: Context) -> list[AutomationOut]:
    """The time-based automations in the order the scan runs them (staff only): name, active
    flag, their time conditions (hours since or until a ticket's times), their other
    conditions (all of `all`, one of `any`) and actions."""

    def work(session: Session, caller: User) -> list[AutomationOut]:
        rows = automations.list_automations(session, viewer=caller)
        return [AutomationOut.model_validate(row) for row in rows]

    return await call_as_caller(ctx, work, write=False)


async def test_automation(
    ctx: Context, automation_id: AutomationId, ticket: TicketRef
) -> AutomationTestOut:
    """Try an automation on a ticket without changing anything (staff only): whether the next
    scan would act on it (its time conditions hold, its other conditions hold, it has not
    acted on this occurrence yet) and what each of its actions would do."""

    def work(session: Session, caller: User) -> AutomationTestOut:
        result = automations.test_automation(
            session,
            viewer=caller,
            automation_id=automation_id,
            request=AutomationTest(ticket=str(ticket)),
        )
        return AutomationTestOut.model_validate(result)

    return await call_as_caller(ctx, work, write=False)


def register(server: MCPServer) -> None:
    add_tool(server, list_automations, annotations=_READ)
    add_tool(server, test_automation, annotations=_READ)
