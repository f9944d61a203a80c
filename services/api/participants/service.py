"""The rules for followers and CCs.

Followers are agents and admins who follow a ticket (the mail issue notifies them); only staff
see or change them. CCs are customers copied on a ticket: they see it and its public
conversation as its requester does and may reply publicly, but not change it. Staff add and
remove CCs; the requester may remove a CC from their ticket, and a CC may remove themselves.
Adding someone already there changes nothing (200); each real change is one history row and one
`ticket.updated` event, through the one writer. Neither bumps the ticket's version: a follower
is not an edit of the ticket, and an agent's PATCH must not fail because someone followed it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

from services.api.participants import repository
from services.api.participants.schemas import ParticipantOut
from services.api.tickets import access
from shared import ticket_rows
from shared.clock import utcnow
from shared.errors import Forbidden, InvalidInput, InvalidReference, NotFound
from shared.models import User, parse_ticket_ref, ticket_ccs, ticket_followers
from shared.reference_cache import UserRecord, reference_cache
from shared.ticket_changes import (
    FieldChange,
    HistoryEntry,
    field_change_events,
    record_ticket_change,
)
from shared.ticket_view import PersonRef, TicketRow, people_refs

MAX_FOLLOWERS = 100
MAX_CCS = 50


@dataclass(frozen=True)
class _Kind:
    """Followers or CCs: their table, their name in history and events, their bound."""

    table: Table
    field: str  # "followers" / "ccs": the history row's field and the event's change key
    noun: str
    limit: int
    internal: bool  # history rows hidden from customers

    def ids(self, row: TicketRow) -> list[int]:
        return row.follower_ids if self is FOLLOWERS else row.cc_ids


FOLLOWERS = _Kind(ticket_followers, "followers", "follower", MAX_FOLLOWERS, internal=True)
CCS = _Kind(ticket_ccs, "ccs", "CC", MAX_CCS, internal=False)


def _ensure_staff_for_followers(viewer: User) -> None:
    # Before the ticket is looked up: a customer learns nothing, not even whether it exists.
    if not viewer.role.is_staff:
        raise Forbidden("followers are for agents and admins")


def _visible_row(session: Session, *, viewer: User, ref: str, lock: bool) -> TicketRow:
    """The ticket's row (followers and CCs on it); one the viewer may not see is absent."""
    ticket_id = parse_ticket_ref(ref)
    row = ticket_rows.ticket_row(session, ticket_id=ticket_id, lock=lock) if ticket_id else None
    if row is None or not access.may_see(viewer, requester_id=row.requester_id, cc_ids=row.cc_ids):
        raise NotFound(f"no ticket {ref}")
    return row


def _person(session: Session, user_id: int | None) -> PersonRef | None:
    if user_id is None:
        return None
    (ref,) = people_refs(session, [user_id])
    return ref


def _out(session: Session, ticket_id: int, found: Any) -> ParticipantOut:
    user = _person(session, found.user_id)
    assert user is not None
    return ParticipantOut(
        ticket_id=ticket_id,
        user=user,
        added_by=_person(session, found.added_by_id),
        added_at=found.added_at,
    )


def _listed(session: Session, kind: _Kind, row: TicketRow) -> list[ParticipantOut]:
    if not kind.ids(row):
        return []  # the row said so: no statement
    found = repository.entries(session, kind.table, ticket_id=row.id)
    return [_out(session, row.id, entry) for entry in found]


def list_followers(session: Session, *, viewer: User, ref: str) -> list[ParticipantOut]:
    _ensure_staff_for_followers(viewer)
    row = _visible_row(session, viewer=viewer, ref=ref, lock=False)
    return _listed(session, FOLLOWERS, row)


def list_ccs(session: Session, *, viewer: User, ref: str) -> list[ParticipantOut]:
    row = _visible_row(session, viewer=viewer, ref=ref, lock=False)
    return _listed(session, CCS, row)


def _candidate(session: Session, kind: _Kind, *, user_id: int, row: TicketRow) -> UserRecord:
    """The user to add, refused (422, `user_id`) unless active and of the right role."""
    person = reference_cache.person(session, user_id=user_id)
    if person is None or not person.active:
        raise InvalidReference(f"no active user with id {user_id}", field="user_id")
    if kind is FOLLOWERS:
        if not person.role.is_staff:
            raise InvalidInput(
                f"{person.name} is a customer: followers are agents and admins (copy a "
                "customer on the ticket as a CC instead)",
                field="user_id",
            )
        if person.is_bot:
            raise InvalidInput(
                f"{person.name} is a bot: bots do not follow tickets", field="user_id"
            )
        return person
    if person.role.is_staff:
        raise InvalidInput(
            f"{person.name} is an agent or admin: CCs are customers (staff follow a ticket "
            "instead)",
            field="user_id",
        )
    if person.id == row.requester_id:
        raise InvalidInput(f"{person.name} is the ticket's requester already", field="user_id")
    return person


def _add(
    session: Session, kind: _Kind, *, actor: User, ref: str, user_id: int
) -> tuple[ParticipantOut, bool]:
    row = _visible_row(session, viewer=actor, ref=ref, lock=True)
    person = _candidate(session, kind, user_id=user_id, row=row)
    before = kind.ids(row)
    if person.id in before:
        return _existing(session, kind, row_id=row.id, user_id=person.id), False
    if len(before) >= kind.limit:
        raise InvalidInput(
            f"a ticket has at most {kind.limit} {kind.noun}s; remove one first", field="user_id"
        )
    now = utcnow()
    added = repository.add(
        session, kind.table, ticket_id=row.id, user_id=person.id, added_by_id=actor.id, at=now
    )
    if not added:
        return _existing(session, kind, row_id=row.id, user_id=person.id), False
    _record(session, kind, row, actor=actor, after=sorted([*before, person.id]))
    who = _person(session, actor.id)
    return ParticipantOut(
        ticket_id=row.id, user=PersonRef(id=person.id, name=person.name), added_by=who, added_at=now
    ), True


def _existing(session: Session, kind: _Kind, *, row_id: int, user_id: int) -> ParticipantOut:
    found = repository.entry(session, kind.table, ticket_id=row_id, user_id=user_id)
    assert found is not None  # read in this transaction, and only removed under its row lock
    return _out(session, row_id, found)


def _remove(session: Session, kind: _Kind, *, actor: User, row: TicketRow, user_id: int) -> None:
    before = kind.ids(row)
    absent = NotFound(f"user {user_id} is not a {kind.noun} of ticket {row.id}")
    if user_id not in before:
        raise absent
    if not repository.remove(session, kind.table, ticket_id=row.id, user_id=user_id):
        raise absent
    _record(session, kind, row, actor=actor, after=[i for i in before if i != user_id])


def _record(
    session: Session, kind: _Kind, row: TicketRow, *, actor: User, after: list[int]
) -> None:
    """The history row and ticket.updated (the ticket as staff see it, with the new list)."""
    before = kind.ids(row)
    old = [ref.model_dump() for ref in people_refs(session, before)]
    new = [ref.model_dump() for ref in people_refs(session, after)]
    change = FieldChange(kind.field, old, new)
    changed = replace(row, follower_ids=after) if kind is FOLLOWERS else replace(row, cc_ids=after)
    view = ticket_rows.row_view_for(session, changed, staff=True)
    record_ticket_change(
        session,
        ticket_id=row.id,
        actor_id=actor.id,
        at=utcnow(),
        history=[
            HistoryEntry(
                kind.field,
                ", ".join(person["name"] for person in old) or None,
                ", ".join(person["name"] for person in new) or None,
                internal=kind.internal,
            )
        ],
        events=field_change_events(view, [change], actor=actor, resolved=False),
    )


def add_follower(
    session: Session, *, actor: User, ref: str, user_id: int | None
) -> tuple[ParticipantOut, bool]:
    """Add an agent or admin (default: the actor) as a follower; (entry, whether added)."""
    _ensure_staff_for_followers(actor)
    return _add(session, FOLLOWERS, actor=actor, ref=ref, user_id=user_id or actor.id)


def remove_follower(session: Session, *, actor: User, ref: str, user_id: int) -> int:
    """Stop `user_id` following the ticket; returns the ticket's id."""
    _ensure_staff_for_followers(actor)
    row = _visible_row(session, viewer=actor, ref=ref, lock=True)
    _remove(session, FOLLOWERS, actor=actor, row=row, user_id=user_id)
    return row.id


def add_cc(session: Session, *, actor: User, ref: str, user_id: int) -> tuple[ParticipantOut, bool]:
    """Copy an active customer on a ticket (staff); (entry, whether added)."""
    if not actor.role.is_staff:
        # Customers would otherwise name (and learn the names of) other customers by id.
        raise Forbidden("only agents and admins add CCs to a ticket", field="user_id")
    return _add(session, CCS, actor=actor, ref=ref, user_id=user_id)


def remove_cc(session: Session, *, actor: User, ref: str, user_id: int) -> int:
    """Staff remove any CC; the requester removes CCs from their ticket; a CC leaves.
    Returns the ticket's id."""
    row = _visible_row(session, viewer=actor, ref=ref, lock=True)
    if not (actor.role.is_staff or actor.id in (row.requester_id, user_id)):
        raise Forbidden(
            "a CC may remove only themselves; the requester and staff remove others",
            field="user_id",
        )
    _remove(session, CCS, actor=actor, row=row, user_id=user_id)
    return row.id
