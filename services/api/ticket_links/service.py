"""The rules for links between tickets: who makes them, which are refused, who sees them.

A link is stored once and listed on both tickets, the other side reading the inverse kind
(duplicate_of / duplicated_by, parent_of / child_of, merged_into / merged_from). Staff make
and remove links; customers see the links of their tickets whose other end they may see too.
Every change is a history row and a ticket.updated (`changes["links"]`) on both tickets.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from services.api.ticket_links import repository
from services.api.ticket_links.schemas import (
    SIDES,
    LinkCreate,
    LinkedTicket,
    LinkSide,
    NewLinkKind,
    TicketLinkOut,
)
from services.api.tickets import access
from shared import ticket_rows
from shared.clock import utcnow
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from shared.models import LinkKind, TicketLink, User, parse_ticket_ref, ticket_number
from shared.reference_cache import reference_cache
from shared.ticket_changes import (
    FieldChange,
    HistoryEntry,
    field_change_events,
    record_ticket_change,
)
from shared.ticket_rows import row_view_for
from shared.ticket_view import TicketRow, user_ref

# Links a ticket holds at most (every kind counted): beyond that a ticket is a project, and
# every link listed and sent in its events costs each read.
MAX_LINKS_PER_TICKET = 50
# How many parents up a parent_of chain is followed looking for a cycle (they cannot be
# longer: each link is checked when made).
_MAX_ANCESTRY = 10_000

# A new link's kind as stored, and whether it is stored from the other ticket.
_STORED: dict[NewLinkKind, tuple[LinkKind, bool]] = {
    NewLinkKind.RELATED: (LinkKind.RELATED, False),
    NewLinkKind.DUPLICATE_OF: (LinkKind.DUPLICATE_OF, False),
    NewLinkKind.DUPLICATED_BY: (LinkKind.DUPLICATE_OF, True),
    NewLinkKind.PARENT_OF: (LinkKind.PARENT_OF, False),
    NewLinkKind.CHILD_OF: (LinkKind.PARENT_OF, True),
}


def side_of(link: TicketLink, *, ticket_id: int) -> LinkSide:
    """How the link reads from `ticket_id`, one of its two ends."""
    from_side, to_side = SIDES[LinkKind(link.kind)]
    return from_side if link.from_ticket_id == ticket_id else to_side


def other_end(link: TicketLink, *, ticket_id: int) -> int:
    return link.to_ticket_id if link.from_ticket_id == ticket_id else link.from_ticket_id


def locked_rows(session: Session, *, ticket_ids: list[int]) -> dict[int, TicketRow]:
    """The tickets' rows, locked in id order (two writers linking the same pair from either
    end never wait for each other's lock); missing ids are absent."""
    rows: dict[int, TicketRow] = {}
    for ticket_id in sorted(set(ticket_ids)):
        row = ticket_rows.ticket_row(session, ticket_id=ticket_id, lock=True)
        if row is not None:
            rows[ticket_id] = row
    return rows


def link_out(
    session: Session, link: TicketLink, *, ticket_id: int, other: repository.LinkedTicketFacts
) -> TicketLinkOut:
    reference = reference_cache.reference(session)
    creator = (
        reference_cache.user(session, user_id=link.created_by_id) if link.created_by_id else None
    )
    return TicketLinkOut(
        id=link.id,
        kind=side_of(link, ticket_id=ticket_id),
        ticket=LinkedTicket(
            id=other.id,
            number=ticket_number(other.id),
            title=other.title,
            status=reference.statuses[other.status_id].name,
        ),
        created_by=user_ref(creator) if creator is not None else None,
        created_at=link.created_at,
    )


def link_summaries(session: Session, *, ticket_id: int) -> list[dict[str, Any]]:
    """The ticket's links as its ticket.updated events carry them (`changes["links"]`)."""
    return [
        {
            "id": link.id,
            "kind": str(side_of(link, ticket_id=ticket_id)),
            "ticket": ticket_number(other_end(link, ticket_id=ticket_id)),
        }
        for link in repository.links_of(session, ticket_id=ticket_id)
    ]


def link_history(link: TicketLink, *, ticket_id: int, added: bool, internal: bool) -> HistoryEntry:
    other = ticket_number(other_end(link, ticket_id=ticket_id))
    text = f"{side_of(link, ticket_id=ticket_id)} {other}"
    return HistoryEntry("link", None if added else text, text if added else None, internal)


def record_link_change(
    session: Session,
    row: TicketRow,
    *,
    actor: User,
    at: datetime,
    before: list[dict[str, Any]],
    history: list[HistoryEntry],
) -> None:
    """The history rows and the ticket.updated of one ticket whose links changed."""
    change = FieldChange("links", before, link_summaries(session, ticket_id=row.id))
    view = row_view_for(session, row, staff=True)
    record_ticket_change(
        session,
        ticket_id=row.id,
        actor_id=actor.id,
        at=at,
        history=history,
        events=field_change_events(view, [change], actor=actor, resolved=False),
    )


def audience(row: TicketRow) -> set[int]:
    """The customers who read the ticket's public side: its requester and its CCs."""
    return {row.requester_id, *row.cc_ids}


def may_see(viewer: User, row: TicketRow) -> bool:
    return access.may_see(viewer, requester_id=row.requester_id, cc_ids=row.cc_ids)


def names_only_what_its_readers_see(row: TicketRow, other: TicketRow) -> bool:
    """Whether every customer reading `row` may see `other` too: a public history row of
    `row` naming `other` reveals nothing to them then (otherwise it is staff-only)."""
    return audience(row) <= audience(other)


def _visible_row(session: Session, *, viewer: User, ref: str) -> TicketRow:
    ticket_id = parse_ticket_ref(ref)
    row = ticket_rows.ticket_row(session, ticket_id=ticket_id) if ticket_id else None
    if row is None or not may_see(viewer, row):
        raise NotFound(f"no ticket {ref}")
    return row


def list_links(session: Session, *, viewer: User, ref: str) -> list[TicketLinkOut]:
    """The ticket's links, oldest first; customers see those whose other ticket they may see
    too (requested or copied on): a ticket they may not see is never named."""
    row = _visible_row(session, viewer=viewer, ref=ref)
    links = repository.links_of(session, ticket_id=row.id)
    other_ids = [other_end(link, ticket_id=row.id) for link in links]
    others = repository.ticket_facts(session, ticket_ids=other_ids)
    visible = (
        set(other_ids)
        if viewer.role.is_staff
        else repository.visible_ticket_ids(
            session, ticket_ids=other_ids, visible=access.visible_to(viewer)
        )
    )
    return [
        link_out(session, link, ticket_id=row.id, other=others[other_id])
        for link, other_id in zip(links, other_ids, strict=True)
        if other_id in visible
    ]


def _ensure_may_link(actor: User) -> None:
    if not actor.role.is_staff:
        raise Forbidden("only agents and admins link tickets")


def _ensure_room(session: Session, *, ticket_ids: list[int]) -> None:
    for ticket_id in ticket_ids:
        if repository.link_count(session, ticket_id=ticket_id) >= MAX_LINKS_PER_TICKET:
            raise Conflict(
                f"{ticket_number(ticket_id)} has {MAX_LINKS_PER_TICKET} links, the most a "
                "ticket holds; remove one first",
                field="ticket",
            )


def _ensure_no_cycle(session: Session, *, parent_id: int, child_id: int) -> None:
    """A child of its own descendant would make the tree a loop; a second parent, a graph."""
    existing = repository.parent_of(session, ticket_id=child_id)
    if existing is not None:
        raise Conflict(
            f"{ticket_number(child_id)} is a child of {ticket_number(existing)} already; a "
            "ticket has one parent",
            field="ticket",
        )
    ancestor = repository.parent_of(session, ticket_id=parent_id)
    for _ in range(_MAX_ANCESTRY):
        if ancestor is None:
            return
        if ancestor == child_id:
            raise Conflict(
                f"{ticket_number(child_id)} is an ancestor of {ticket_number(parent_id)}: the "
                "link would make a cycle",
                field="ticket",
            )
        ancestor = repository.parent_of(session, ticket_id=ancestor)


def add_link(session: Session, *, actor: User, ref: str, request: LinkCreate) -> TicketLinkOut:
    """Link two tickets (staff); the link is listed on both, the inverse kind on the other."""
    ticket_id = parse_ticket_ref(ref)
    other_ref = str(request.ticket)
    other_id = parse_ticket_ref(other_ref)
    rows = locked_rows(session, ticket_ids=[i for i in (ticket_id, other_id) if i is not None])
    row = rows.get(ticket_id) if ticket_id else None
    if row is None or not may_see(actor, row):
        raise NotFound(f"no ticket {ref}")
    _ensure_may_link(actor)
    other = rows.get(other_id) if other_id else None
    if other is None:
        raise NotFound(f"no ticket {other_ref}", field="ticket")
    if other.id == row.id:
        raise InvalidInput("a ticket cannot be linked to itself", field="ticket")
    existing = repository.links_between(session, first_id=row.id, second_id=other.id)
    for link in existing:
        if link.kind != LinkKind.MERGED_INTO:
            raise Conflict(
                f"{ticket_number(row.id)} and {ticket_number(other.id)} are linked already "
                f"({side_of(link, ticket_id=row.id)}, link {link.id}); remove that link to "
                "link them otherwise",
                field="ticket",
            )
    _ensure_room(session, ticket_ids=[row.id, other.id])
    kind, reversed_ = _STORED[request.kind]
    source, target = (other, row) if reversed_ else (row, other)
    if kind is LinkKind.PARENT_OF:
        _ensure_no_cycle(session, parent_id=source.id, child_id=target.id)
    before = {each.id: link_summaries(session, ticket_id=each.id) for each in (row, other)}
    now = utcnow()
    link = repository.insert_link(
        session,
        from_ticket_id=source.id,
        to_ticket_id=target.id,
        kind=kind,
        created_by_id=actor.id,
        at=now,
    )
    for each, far in ((row, other), (other, row)):
        # Kept out of the customers' history when some reader of the ticket cannot see the
        # other: they would read its number.
        internal = not names_only_what_its_readers_see(each, far)
        record_link_change(
            session,
            each,
            actor=actor,
            at=now,
            before=before[each.id],
            history=[link_history(link, ticket_id=each.id, added=True, internal=internal)],
        )
    facts = repository.ticket_facts(session, ticket_ids=[other.id])[other.id]
    return link_out(session, link, ticket_id=row.id, other=facts)


def remove_link(session: Session, *, actor: User, ref: str, link_id: int) -> None:
    """Remove a link (staff) from both tickets; merged_into links stay."""
    row = _visible_row(session, viewer=actor, ref=ref)
    _ensure_may_link(actor)
    link = repository.get_link(session, link_id=link_id)
    if link is None or row.id not in (link.from_ticket_id, link.to_ticket_id):
        raise NotFound(f"ticket {ref} has no link {link_id}")
    if link.kind == LinkKind.MERGED_INTO:
        raise Conflict("a merged_into link records a merge and cannot be removed", field="link_id")
    rows = locked_rows(session, ticket_ids=[link.from_ticket_id, link.to_ticket_id])
    before = {ticket_id: link_summaries(session, ticket_id=ticket_id) for ticket_id in rows}
    history = {
        ticket_id: link_history(
            link,
            ticket_id=ticket_id,
            added=False,
            internal=not names_only_what_its_readers_see(
                each, rows[other_end(link, ticket_id=ticket_id)]
            ),
        )
        for ticket_id, each in rows.items()
    }
    repository.delete_link(session, link_id=link.id)
    session.expunge(link)
    now = utcnow()
    for ticket_id, each in rows.items():
        record_link_change(
            session,
            each,
            actor=actor,
            at=now,
            before=before[ticket_id],
            history=[history[ticket_id]],
        )
