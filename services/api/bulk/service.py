"""Bulk updates: one change applied to many tickets, each exactly as PATCH /tickets/{id} would
change it (services.api.tickets.service.update_ticket), or one macro applied to each as
POST /tickets/{id}/macros/{macro_id} would (services.api.macros.service.run_macro), each in a
savepoint of its own so one refused ticket changes nothing of its own and the others still apply.

The tickets are applied in chunks, each chunk a write savepoint of its own (committed with its
batch) so other writers of the process, and on SQLite the worker and the notifier waiting for
the write lock, get their turn between chunks instead of after the whole call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TypeVar

from fastapi import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from services.api import idempotency
from services.api.bulk.schemas import (
    BulkChanges,
    BulkOutcome,
    BulkTicket,
    BulkTicketOutcome,
    BulkUpdate,
    expected_version,
    ref_of,
)
from services.api.errors import STATUS_BY_ERROR
from services.api.macros import repository as macros
from services.api.macros.service import MacroRecord, run_macro, usable_macro
from services.api.openapi import FieldError, Problem
from services.api.tickets import service as tickets
from shared import ticket_rows
from shared.clock import utcnow
from shared.errors import (
    DomainError,
    Forbidden,
    InvalidInput,
    InvalidReference,
    NotFound,
    StaleVersion,
)
from shared.models import User, parse_ticket_ref
from shared.reference_cache import reference_cache
from shared.ticket_view import TicketView
from shared.unit_of_work import run_sync, write_savepoint

# Tickets per write savepoint. Measured (bench/bulk.py, SQLite, 2 shared cores): 500 in one
# savepoint held the process's write turn, SQLite's write lock and, SQLite's statements running
# in the event loop, the whole process for ~1 s (a POST /tickets sent meanwhile: 980 ms);
# chunks of 50: ~100 ms each, the call ~10 % longer, a POST meanwhile p50 ~200 ms, max ~300 ms;
# chunks of 20: the call ~50 % longer for a POST at ~120-190 ms. (In a thread instead of the
# event loop: slower, GIL contention, and no shorter wait for the POST, which waits its turn.)
CHUNK_TICKETS = 50

BULK_PATH = "/tickets/bulk"

Answer = TypeVar("Answer")


def ensure_may_bulk_update(actor: User) -> None:
    if not actor.role.is_staff:
        raise Forbidden("only agents and admins may update tickets in bulk")


def ensure_references(session: Session, *, changes: BulkChanges) -> None:
    """An id in `changes` that names nothing would refuse every ticket alike: it refuses the
    call as a whole, as a bad body does, before any ticket changes."""
    reference = reference_cache.reference(session)
    if changes.status_id is not None and changes.status_id not in reference.statuses:
        raise InvalidReference(f"no status with id {changes.status_id}", field="changes.status_id")
    if changes.priority_id is not None and changes.priority_id not in reference.priorities:
        raise InvalidReference(
            f"no priority with id {changes.priority_id}", field="changes.priority_id"
        )
    if changes.category_id is not None:
        category = reference.categories.get(changes.category_id)
        if category is None or not category.active:
            raise InvalidReference(
                f"no active category with id {changes.category_id}", field="changes.category_id"
            )
    if changes.assigned_to is not None:
        person = reference_cache.person(session, user_id=changes.assigned_to)
        if person is None or not person.active or not person.role.is_staff:
            raise InvalidReference(
                f"no active agent or admin with id {changes.assigned_to}",
                field="changes.assigned_to",
            )


def _problem(error: DomainError | StaleDataError) -> Problem:
    """The problem a PATCH of this ticket alone would have answered."""
    if isinstance(error, StaleDataError):
        error = StaleVersion("the ticket was changed by someone else meanwhile; fetch it and retry")
    status = next((code for cls, code in STATUS_BY_ERROR.items() if isinstance(error, cls)), 400)
    errors = [FieldError(field=error.field, message=error.detail)] if error.field else None
    return Problem(
        type="about:blank", title=error.title, status=status, detail=error.detail, errors=errors
    )


def _change(
    session: Session, *, actor: User, ticket: BulkTicket, changes: BulkChanges
) -> tuple[TicketView, bool]:
    """Change one ticket as PATCH would; returns it and whether it changed."""
    ref = str(ref_of(ticket))
    ticket_id = parse_ticket_ref(ref)
    # Locked (PostgreSQL) as update_ticket locks it: the version read here is the one it sees.
    before = ticket_rows.ticket_row(session, ticket_id=ticket_id, lock=True) if ticket_id else None
    try:
        update = changes.ticket_update(current_tags=before.tags if before else None)
    except ValidationError as error:
        message = "; ".join(str(detail["msg"]) for detail in error.errors())
        raise InvalidInput(
            f"the tags this ticket would have are refused: {message}", field="changes.add_tags"
        ) from None
    version = expected_version(ticket)
    view = tickets.update_ticket(
        session,
        actor=actor,
        ref=ref,
        request=update,
        if_match=str(version) if version is not None else None,
    )
    return view, before is not None and view.version != before.version


def _apply_macro(
    session: Session, *, actor: User, ticket: BulkTicket, macro: MacroRecord, at: datetime
) -> tuple[TicketView, bool]:
    """Apply the macro to one ticket as its own POST /tickets/{id}/macros/{macro_id} would."""
    version = expected_version(ticket)
    applied = run_macro(
        session,
        actor=actor,
        macro=macro,
        ref=str(ref_of(ticket)),
        if_match=str(version) if version is not None else None,
        at=at,
    )
    return applied.ticket, applied.changed


Change = Callable[[Session, BulkTicket], tuple[TicketView, bool]]


def _outcome(session: Session, *, ticket: BulkTicket, change: Change) -> BulkTicketOutcome:
    ref = ref_of(ticket)
    savepoint = session.begin_nested()
    try:
        view, changed = change(session, ticket)
        savepoint.commit()
    except (DomainError, StaleDataError) as error:
        savepoint.rollback()
        problem = _problem(error)
        return BulkTicketOutcome(ref=ref, status=problem.status, changed=False, error=problem)
    return BulkTicketOutcome(ref=ref, status=200, changed=changed, ticket=view)


def apply_changes(
    session: Session, *, actor: User, tickets: Sequence[BulkTicket], changes: BulkChanges
) -> list[BulkTicketOutcome]:
    """Change each of `tickets`, in order, in the caller's transaction."""

    def change(session: Session, ticket: BulkTicket) -> tuple[TicketView, bool]:
        return _change(session, actor=actor, ticket=ticket, changes=changes)

    return [_outcome(session, ticket=ticket, change=change) for ticket in tickets]


def apply_macro(
    session: Session, *, actor: User, tickets: Sequence[BulkTicket], macro: MacroRecord
) -> list[BulkTicketOutcome]:
    """Apply the macro to each of `tickets`, in order, in the caller's transaction; each
    ticket it was applied to counts as a use of it."""
    at = utcnow()

    def change(session: Session, ticket: BulkTicket) -> tuple[TicketView, bool]:
        return _apply_macro(session, actor=actor, ticket=ticket, macro=macro, at=at)

    results = [_outcome(session, ticket=ticket, change=change) for ticket in tickets]
    uses = sum(result.status == 200 for result in results)
    if uses:
        macros.count_uses(session, macro_id=macro.id, uses=uses, at=at)
    return results


def summary(results: list[BulkTicketOutcome]) -> BulkOutcome:
    changed = sum(result.changed for result in results)
    failed = sum(result.status != 200 for result in results)
    return BulkOutcome(
        results=results, changed=changed, unchanged=len(results) - changed - failed, failed=failed
    )


def _checked(session: Session, *, actor: User, request: BulkUpdate) -> MacroRecord | None:
    """What refuses the call as a whole (an unknown id in the changes; a macro missing,
    another agent's, inactive or naming what is gone), and the macro to apply."""
    if request.changes is not None:
        ensure_references(session, changes=request.changes)
        return None
    assert request.macro_id is not None
    try:
        return usable_macro(session, actor=actor, macro_id=request.macro_id)
    except NotFound as error:
        # An id in the body that names nothing usable, as in `changes`: a 422 naming it.
        raise InvalidReference(error.detail, field="macro_id") from None


def _apply_chunk(
    session: Session,
    *,
    actor: User,
    tickets: Sequence[BulkTicket],
    request: BulkUpdate,
    macro: MacroRecord | None,
) -> list[BulkTicketOutcome]:
    if macro is not None:
        return apply_macro(session, actor=actor, tickets=tickets, macro=macro)
    assert request.changes is not None
    return apply_changes(session, actor=actor, tickets=tickets, changes=request.changes)


async def _in_chunks(
    *,
    actor: User,
    request: BulkUpdate,
    first: Callable[[Session], Answer | None],
    last: Callable[[Session, BulkOutcome], Answer],
) -> Answer:
    """Apply the change chunk by chunk; `first` runs in the first chunk's savepoint before any
    change (an answer from it ends the call), `last` in the last one's after every change."""
    ensure_may_bulk_update(actor)
    results: list[BulkTicketOutcome] = []
    starts = range(0, len(request.tickets), CHUNK_TICKETS)
    macro: MacroRecord | None = None
    for start in starts:
        chunk = request.tickets[start : start + CHUNK_TICKETS]
        async with write_savepoint() as session:
            if start == 0:
                earlier = await run_sync(lambda: first(session))  # noqa: B023
                if earlier is not None:
                    return earlier
                macro = await run_sync(lambda: _checked(session, actor=actor, request=request))  # noqa: B023
            results += await run_sync(
                lambda: _apply_chunk(
                    session,
                    actor=actor,
                    tickets=chunk,  # noqa: B023
                    request=request,
                    macro=macro,  # noqa: B023
                )
            )
            if start == starts[-1]:
                outcome = summary(results)
                return await run_sync(lambda: last(session, outcome))  # noqa: B023
    raise AssertionError("a bulk update has at least one ticket")


async def bulk_update(*, actor: User, request: BulkUpdate, idempotency_key: str | None) -> Response:
    """Apply `request`; a retry with the same Idempotency-Key gets the first answer."""

    def claim_key(session: Session) -> Response | None:
        return idempotency.claim(
            session, user=actor, key=idempotency_key, path=BULK_PATH, payload=request
        )

    def answer(session: Session, outcome: BulkOutcome) -> Response:
        return idempotency.answer(
            session,
            user=actor,
            key=idempotency_key,
            path=BULK_PATH,
            payload=request,
            status_code=200,
            body_model=outcome,
            headers={},
            claimed=True,
        )

    return await _in_chunks(actor=actor, request=request, first=claim_key, last=answer)


async def bulk_outcome(*, actor: User, request: BulkUpdate) -> BulkOutcome:
    """Apply `request` (no Idempotency-Key: the MCP tool)."""
    return await _in_chunks(
        actor=actor, request=request, first=lambda _session: None, last=lambda _s, o: o
    )
