from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from shared.ticket_view import TicketView


class Count(BaseModel):
    id: int | None
    name: str | None
    count: int


class TicketTotals(BaseModel):
    total: int
    open: int
    closed: int


class Backlog(BaseModel):
    total: int
    unassigned: int
    by_priority: list[Count]


class Day(BaseModel):
    date: str
    created: int
    resolved: int


class Durations(BaseModel):
    count: int
    mean_seconds: float | None
    median_seconds: float | None


class SlaFigures(BaseModel):
    resolved_with_target: int
    met: int
    # The share of resolved tickets that met their resolution target.
    compliance: float | None
    current_breaches: int


class AgentLoad(BaseModel):
    id: int
    name: str
    open: int


class BotFigures(BaseModel):
    # Tickets held by a bot now, or escalated.
    tickets_handled: int
    # Resolved while a bot held them, never escalated.
    resolved_without_escalation: int
    escalated: int
    # escalated / tickets_handled
    escalation_rate: float | None
    # From a ticket's creation to its first escalation.
    time_to_escalation: Durations


class OptionCount(BaseModel):
    option: str
    count: int


class CustomFieldBreakdown(BaseModel):
    """A dropdown field's options with how many tickets hold each; `unset`: none."""

    id: int
    key: str
    label: str
    options: list[OptionCount]
    unset: int


class StatsOut(BaseModel):
    computed_at: datetime
    tickets: TicketTotals
    by_status: list[Count]
    by_priority: list[Count]
    by_category: list[Count]
    by_assignee: list[Count]
    open_backlog: Backlog
    daily: list[Day]
    first_response: Durations
    resolution: Durations
    sla: SlaFigures
    agent_load: list[AgentLoad]
    # None only in a snapshot stored before bots were counted (the next refresh fills it).
    bots: BotFigures | None = None
    # Active dropdown fields (empty in a snapshot stored before they were counted).
    by_custom_field: list[CustomFieldBreakdown] = []


class DashboardOut(BaseModel):
    stats: StatsOut
    newest_tickets: list[TicketView]
    due_soon: list[TicketView]
