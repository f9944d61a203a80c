"""Macros: named bundles of rule actions an agent previews or applies to a ticket.

Shared macros (owner_id null) are every agent's to use and the admins' to change; a personal
macro is its owner's alone (to anyone else it does not exist). Customers never see macros.

Applying one runs its actions through `shared.rules.actions.apply_actions`, the triggers'
executor, with the agent as the actor: the field actions are one edit (one version, one
history batch, its events) made as a PATCH by that agent would make it, the notes and replies
are written as the agent, and an internal history row names the macro. A preview does the same
in a savepoint that is rolled back.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy.orm import Session

from services.api.comments.schemas import CommentOut
from services.api.macros import repository
from services.api.macros.schemas import MacroApplied, MacroCreate, MacroFilters, MacroUpdate
from services.api.tickets.service import check_version
from shared import ticket_rows, ticket_writes
from shared.clock import utcnow
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from shared.events import OUTBOX_WRITTEN
from shared.models import Macro, Role, User, parse_ticket_ref
from shared.rules.actions import (
    Action,
    PersonActor,
    PublicReply,
    SendToWebhook,
    apply_actions,
    check_actions,
)
from shared.ticket_changes import HistoryEntry, record_ticket_change
from shared.ticket_rows import row_view_for

ACTIONS = TypeAdapter(list[Action])

# The audit trail's row naming the macro an agent applied (staff only).
MACRO_FIELD = "macro"


def require_staff(viewer: User) -> None:
    if not viewer.role.is_staff:
        raise Forbidden("macros are for agents and admins")


def _visible(macro: Macro | None, viewer: User) -> bool:
    return macro is not None and (macro.owner_id is None or macro.owner_id == viewer.id)


def get_macro(session: Session, *, viewer: User, macro_id: int) -> Macro:
    """A shared macro or the viewer's own; another agent's is as absent as a missing one."""
    require_staff(viewer)
    macro = session.get(Macro, macro_id)
    if macro is None or not _visible(macro, viewer):
        raise NotFound(f"no macro with id {macro_id}")
    return macro


def list_macros(session: Session, *, viewer: User, filters: MacroFilters) -> list[Macro]:
    require_staff(viewer)
    return repository.list_macros(
        session, viewer_id=viewer.id, scope=filters.scope, active=filters.active
    )


def _ensure_may_change(actor: User, macro: Macro) -> None:
    if macro.owner_id is None and actor.role is not Role.ADMIN:
        raise Forbidden("only admins change shared macros")


def _actions(session: Session, actions: list[Action]) -> list[dict[str, Any]]:
    for index, action in enumerate(actions):
        if isinstance(action, SendToWebhook):
            raise InvalidInput(
                "a macro acts on a ticket, not on an event: send_to_webhook is for triggers",
                field=f"actions.{index}.kind",
            )
    check_actions(session, actions)
    return [action.model_dump(mode="json", exclude_unset=True) for action in actions]


def _ensure_name_free(
    session: Session, name: str, *, owner_id: int | None, macro_id: int | None = None
) -> None:
    found = repository.macro_named(session, name=name, owner_id=owner_id)
    if found is not None and found != macro_id:
        whose = "shared macro" if owner_id is None else "macro of yours"
        raise Conflict(f"a {whose} named {name!r} already exists", field="name")


def create_macro(session: Session, *, actor: User, fields: MacroCreate) -> Macro:
    require_staff(actor)
    if fields.shared and actor.role is not Role.ADMIN:
        raise Forbidden("only admins create shared macros", field="shared")
    owner_id = None if fields.shared else actor.id
    _ensure_name_free(session, fields.name, owner_id=owner_id)
    now = utcnow()
    macro = Macro(
        name=fields.name,
        description=fields.description,
        actions=_actions(session, fields.actions),
        owner_id=owner_id,
        active=fields.active,
        usage_count=0,
        created_by_id=actor.id,
        created_at=now,
        updated_at=now,
    )
    session.add(macro)
    session.flush()
    return macro


def update_macro(session: Session, *, actor: User, macro_id: int, fields: MacroUpdate) -> Macro:
    macro = get_macro(session, viewer=actor, macro_id=macro_id)
    _ensure_may_change(actor, macro)
    sent = fields.model_fields_set
    for name in ("name", "description", "active", "actions"):
        if name in sent and getattr(fields, name) is None:
            raise InvalidInput(f"{name} cannot be null", field=name)
    if fields.name is not None:
        _ensure_name_free(session, fields.name, owner_id=macro.owner_id, macro_id=macro.id)
        macro.name = fields.name
    if fields.description is not None:
        macro.description = fields.description
    if fields.active is not None:
        macro.active = fields.active
    if fields.actions is not None:
        macro.actions = _actions(session, fields.actions)
    macro.updated_at = utcnow()
    session.flush()
    return macro


def delete_macro(session: Session, *, actor: User, macro_id: int) -> None:
    macro = get_macro(session, viewer=actor, macro_id=macro_id)
    _ensure_may_change(actor, macro)
    session.delete(macro)
    session.flush()


@dataclass(frozen=True)
class MacroRecord:
    """A macro ready to apply: usable by its caller, active, its actions valid now."""

    id: int
    name: str
    actions: tuple[Action, ...]


def usable_macro(session: Session, *, actor: User, macro_id: int) -> MacroRecord:
    """The macro `actor` may apply; its actions checked against the reference data now (a
    status deleted or an agent deactivated since it was saved refuses it, naming the action)."""
    macro = get_macro(session, viewer=actor, macro_id=macro_id)
    if not macro.active:
        raise Conflict(f"macro {macro.id} is inactive; activate it to apply it", field="macro_id")
    actions = ACTIONS.validate_python(macro.actions)
    check_actions(session, actions)
    return MacroRecord(id=macro.id, name=macro.name, actions=tuple(actions))


def run_macro(
    session: Session,
    *,
    actor: User,
    macro: MacroRecord,
    ref: str,
    if_match: str | None,
    at: datetime,
) -> MacroApplied:
    """Apply `macro` to the ticket `ref` as `actor`, in the caller's transaction (a DomainError
    or StaleDataError: the caller rolls its part back). No use is counted here."""
    ticket_id = parse_ticket_ref(ref)
    # Locked (PostgreSQL) as a PATCH locks it: the version checked is the one changed.
    row = ticket_rows.ticket_row(session, ticket_id=ticket_id, lock=True) if ticket_id else None
    if row is None:
        raise NotFound(f"no ticket {ref}")  # staff see every ticket
    check_version(row.version, if_match)
    done = apply_actions(
        session, row=row, actions=macro.actions, actor=PersonActor(user=actor), at=at
    )
    after = done.row
    changed = after.version != row.version or bool(done.comments)
    if changed:
        history = [HistoryEntry(MACRO_FIELD, None, macro.name, internal=True)]
        replied = any(isinstance(action, PublicReply) for action in macro.actions)
        # An agent's public reply is the first response the SLA measures, as a comment's is.
        if replied and after.first_response_at is None:
            bumped = after.version == row.version  # no field changed: the reply moves it
            version = after.version + 1 if bumped else after.version
            ticket_writes.update_ticket_row(
                session,
                ticket_id=after.id,
                version=after.version,
                values={"first_response_at": at, "updated_at": at, "version": version},
            )
            history.append(HistoryEntry("first_response_at", None, at.isoformat()))
            after = ticket_rows.ticket_row(session, ticket_id=after.id) or after
        record_ticket_change(
            session, ticket_id=after.id, actor_id=actor.id, at=at, history=history, events=[]
        )
    return MacroApplied(
        macro_id=macro.id,
        preview=False,
        changed=changed,
        ticket=row_view_for(session, after, staff=True),
        comments=[CommentOut.model_validate(c, from_attributes=True) for c in done.comments],
    )


def apply_macro(
    session: Session, *, actor: User, ref: str, macro_id: int, if_match: str | None
) -> MacroApplied:
    """Apply a macro to one ticket; it counts as one use."""
    macro = usable_macro(session, actor=actor, macro_id=macro_id)
    at = utcnow()
    applied = run_macro(session, actor=actor, macro=macro, ref=ref, if_match=if_match, at=at)
    repository.count_uses(session, macro_id=macro.id, uses=1, at=at)
    return applied


@contextmanager
def rolled_back(session: Session) -> Iterator[None]:
    """Run the block in a savepoint that is always rolled back: nothing it writes remains,
    and no event of it is published."""
    wrote_events = session.info.get(OUTBOX_WRITTEN)
    savepoint = session.begin_nested()
    try:
        yield
    finally:
        savepoint.rollback()
        if wrote_events is None:
            session.info.pop(OUTBOX_WRITTEN, None)
        else:
            session.info[OUTBOX_WRITTEN] = wrote_events


def preview_macro(
    session: Session, *, actor: User, ref: str, macro_id: int, if_match: str | None
) -> MacroApplied:
    """What applying the macro would do: the ticket as it would be and the comments that
    would be added. Nothing is written, no event is emitted, no use is counted."""
    macro = usable_macro(session, actor=actor, macro_id=macro_id)
    with rolled_back(session):
        applied = run_macro(
            session, actor=actor, macro=macro, ref=ref, if_match=if_match, at=utcnow()
        )
    return applied.model_copy(update={"preview": True})
