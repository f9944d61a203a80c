"""All SQL about links between tickets."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, func, or_, select
from sqlalchemy.orm import Session

from shared.models import LinkKind, Ticket, TicketLink
from shared.ticket_updates import merged_into as merged_into


@dataclass(frozen=True)
class LinkedTicketFacts:
    """What listing a link needs to know of the ticket at its other end."""

    id: int
    title: str
    status_id: int
    requester_id: int


def parent_of(session: Session, *, ticket_id: int) -> int | None:
    """The ticket's parent, if it has one (a ticket has at most one)."""
    return session.scalar(
        select(TicketLink.from_ticket_id).where(
            TicketLink.to_ticket_id == ticket_id, TicketLink.kind == LinkKind.PARENT_OF
        )
    )


def links_of(session: Session, *, ticket_id: int) -> list[TicketLink]:
    """Every link with the ticket at either end, oldest first."""
    query = select(TicketLink).where(
        or_(TicketLink.from_ticket_id == ticket_id, TicketLink.to_ticket_id == ticket_id)
    )
    return list(session.scalars(query.order_by(TicketLink.id)))


def link_count(session: Session, *, ticket_id: int) -> int:
    query = select(func.count()).where(
        or_(TicketLink.from_ticket_id == ticket_id, TicketLink.to_ticket_id == ticket_id)
    )
    return int(session.scalar(query) or 0)


def links_between(session: Session, *, first_id: int, second_id: int) -> list[TicketLink]:
    """The links between two tickets, in either direction."""
    query = select(TicketLink).where(
        or_(
            and_(TicketLink.from_ticket_id == first_id, TicketLink.to_ticket_id == second_id),
            and_(TicketLink.from_ticket_id == second_id, TicketLink.to_ticket_id == first_id),
        )
    )
    return list(session.scalars(query.order_by(TicketLink.id)))


def get_link(session: Session, *, link_id: int) -> TicketLink | None:
    return session.get(TicketLink, link_id)


def insert_link(
    session: Session,
    *,
    from_ticket_id: int,
    to_ticket_id: int,
    kind: LinkKind,
    created_by_id: int | None,
    at: datetime,
) -> TicketLink:
    link = TicketLink(
        from_ticket_id=from_ticket_id,
        to_ticket_id=to_ticket_id,
        kind=kind.value,
        created_by_id=created_by_id,
        created_at=at,
    )
    session.add(link)
    session.flush()
    return link


def delete_link(session: Session, *, link_id: int) -> None:
    session.execute(delete(TicketLink).where(TicketLink.id == link_id))


def visible_ticket_ids(
    session: Session, *, ticket_ids: Iterable[int], visible: ColumnElement[bool]
) -> set[int]:
    """Which of the tickets the `visible` condition (a viewer's, see tickets.access) keeps."""
    ids = sorted(set(ticket_ids))
    if not ids:
        return set()
    return set(session.scalars(select(Ticket.id).where(Ticket.id.in_(ids), visible)))


def ticket_facts(session: Session, *, ticket_ids: Iterable[int]) -> dict[int, LinkedTicketFacts]:
    ids = sorted(set(ticket_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(Ticket.id, Ticket.title, Ticket.status_id, Ticket.requester_id).where(
            Ticket.id.in_(ids)
        )
    )
    return {
        row.id: LinkedTicketFacts(row.id, row.title, row.status_id, row.requester_id)
        for row in rows
    }
