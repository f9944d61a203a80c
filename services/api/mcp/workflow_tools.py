"""MCP tools for handing work on: escalation from a bot to a human, knowledge-base articles."""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations
from pydantic import Field
from sqlalchemy.orm import Session

from services.api.articles import links
from services.api.articles.schemas import ArticleHit, LinkedArticle, SuggestionParams
from services.api.mcp.calls import add_tool, call_as_caller, if_match, parse_input
from services.api.mcp.ticket_tools import ExpectedVersion, TicketRef
from services.api.schemas import Id
from services.api.tickets import escalation
from services.api.tickets.escalation_schemas import EscalationOut, EscalationRequest, Reason
from shared.models import User

_READ = ToolAnnotations(readOnlyHint=True, openWorldHint=False)
_WRITE = ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=False)
_IDEMPOTENT_WRITE = ToolAnnotations(
    readOnlyHint=False, destructiveHint=False, idempotentHint=True, openWorldHint=False
)


async def escalate_ticket(
    ctx: Context,
    ticket: TicketRef,
    reason: Annotated[
        Reason,
        Field(description="Why a human is needed; kept on the ticket as an internal comment."),
    ],
    priority_id: Annotated[
        Id | None,
        Field(
            description="A more urgent priority to raise the ticket to (see list_priorities); "
            "never a less urgent one."
        ),
    ] = None,
    expected_version: ExpectedVersion = None,
) -> EscalationOut:
    """Hand a ticket you (a bot) cannot solve to a human agent, picked from the ticket's
    category pool by its assignment strategy (agents and admins only). Adds the reason as an
    internal comment and records the escalation. Fails if a human already holds the ticket or
    it is closed. `escalated_to` is null when no human in the pool is available."""
    request = parse_input(EscalationRequest, {"reason": reason, "priority_id": priority_id})

    def work(session: Session, caller: User) -> EscalationOut:
        outcome = escalation.escalate_ticket(
            session,
            actor=caller,
            ref=str(ticket),
            request=request,
            if_match=if_match(expected_version),
        )
        return escalation.escalation_out(session, outcome, viewer=caller)

    return await call_as_caller(ctx, work, write=True)


async def suggest_articles(
    ctx: Context,
    ticket: TicketRef,
    limit: Annotated[int, Field(ge=1, le=20, description="How many articles, at most.")] = 5,
) -> list[ArticleHit]:
    """Published knowledge-base articles that may answer a ticket, most relevant first, ranked
    by the ticket's title, tags and description. Each hit has the article, a relevance
    `score` (null for customers), a `snippet` and the highlighted title (HTML: the text
    escaped, matches in <mark>)."""
    params = parse_input(SuggestionParams, {"limit": limit})

    def work(session: Session, caller: User) -> list[ArticleHit]:
        return links.suggest_articles(
            session, viewer=caller, ticket_ref=str(ticket), limit=params.limit
        )

    return await call_as_caller(ctx, work, write=False)


async def link_article(
    ctx: Context,
    ticket: TicketRef,
    article_id: Annotated[Id, Field(description="The article's id (from suggest_articles).")],
) -> LinkedArticle:
    """Link a knowledge-base article to a ticket, e.g. the one that solved it (agents and
    admins only). Recorded in the ticket's history; linking it again changes nothing."""

    def work(session: Session, caller: User) -> LinkedArticle:
        link, _created = links.link_article(
            session, actor=caller, ticket_ref=str(ticket), article_id=article_id
        )
        return link

    return await call_as_caller(ctx, work, write=True)


def register(server: MCPServer) -> None:
    add_tool(server, escalate_ticket, annotations=_WRITE)
    add_tool(server, suggest_articles, annotations=_READ)
    add_tool(server, link_article, annotations=_IDEMPOTENT_WRITE)
