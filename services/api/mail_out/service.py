"""The log of mail sent to requesters and CCs, for staff."""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.api.mail_out import repository
from shared.errors import Forbidden, InvalidInput, NotFound
from shared.models import MailKind, MailStatus, OutboundMail, Role, Ticket, User, parse_ticket_ref
from shared.models.participant import parse_participants


def _sees(viewer: User, ticket: Ticket) -> bool:
    """A customer who may read the ticket: its requester or a CC."""
    return (
        viewer.id == ticket.requester_id
        or viewer.id in parse_participants(ticket.participants_text)[1]
    )


def ticket_mail(
    session: Session, *, viewer: User, ref: str, limit: int, offset: int
) -> tuple[list[OutboundMail], int]:
    """A ticket's outbound mail, newest first (staff)."""
    ticket_id = parse_ticket_ref(ref)
    ticket = session.get(Ticket, ticket_id) if ticket_id is not None else None
    # A customer learns nothing, not even whether the ticket exists.
    if ticket is None or not viewer.role.is_staff:
        if ticket is not None and _sees(viewer, ticket):
            raise Forbidden("only agents and admins see a ticket's mail log")
        raise NotFound(f"no ticket {ref!r}")
    return repository.list_mail(
        session,
        ticket_id=ticket.id,
        status=None,
        kind=None,
        to_address=None,
        limit=limit,
        offset=offset,
    )


def all_mail(
    session: Session,
    *,
    viewer: User,
    ticket: str | None,
    status: MailStatus | None,
    kind: MailKind | None,
    to_address: str | None,
    limit: int,
    offset: int,
) -> tuple[list[OutboundMail], int]:
    """Every outbound message, newest first, filtered (admins)."""
    if viewer.role is not Role.ADMIN:
        raise Forbidden("only admins see the whole mail log")
    ticket_id = None
    if ticket is not None:
        ticket_id = parse_ticket_ref(ticket)
        if ticket_id is None:
            raise InvalidInput("expected a ticket id (42) or number (TKT-042)", field="ticket")
    return repository.list_mail(
        session,
        ticket_id=ticket_id,
        status=status,
        kind=kind,
        to_address=to_address,
        limit=limit,
        offset=offset,
    )
