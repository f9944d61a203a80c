"""The rules for creating, reading and changing tickets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from sqlalchemy.orm import Session

from services.api.custom_fields.values import (
    ensure_required,
    input_name,
    value_changes,
    value_filters,
)
from services.api.tickets import access, repository
from services.api.tickets.schemas import HistoryOut, TicketCreate, TicketFilters, TicketUpdate
from shared import ticket_rows
from shared.clock import utcnow
from shared.custom_values import shown_values
from shared.errors import InvalidReference, NotFound, StaleVersion
from shared.models import Ticket, TicketHistory, User, parse_ticket_ref
from shared.reference_cache import UserRecord, reference_cache
from shared.ticket_creation import open_ticket
from shared.ticket_rows import row_view_for, row_views
from shared.ticket_updates import (
    Editor,
    TicketEdit,
    apply_ticket_edit,
    assignee_record,
    status_of,
)
from shared.ticket_view import (
    TicketRow,
    TicketView,
    comment_counts,
    orm_custom_fields,
    orm_people,
    ticket_view,
)


def render(
    session: Session, ticket: Ticket, *, viewer: User, comment_count: int | None = None
) -> TicketView:
    """The ticket as `viewer` sees it; `comment_count` saves the query when it is known."""
    if comment_count is None:
        counts = comment_counts(
            session, ticket_ids=[ticket.id], include_internal=viewer.role.is_staff
        )
        comment_count = counts.get(ticket.id, 0)
    staff = viewer.role.is_staff
    custom_fields = orm_custom_fields(session, ticket, staff=staff)
    people = orm_people(session, ticket, staff=staff)
    return ticket_view(
        ticket, comment_count=comment_count, custom_fields=custom_fields, people=people
    )


def _requester_record(session: Session, user_id: int) -> UserRecord:
    person = reference_cache.person(session, user_id=user_id)
    if person is None or not person.active:
        raise InvalidReference(f"no active user with id {user_id}", field="user_id")
    return person


def _assignee_record(session: Session, user_id: int) -> UserRecord:
    return assignee_record(session, user_id)


def create_ticket(session: Session, *, actor: User, request: TicketCreate) -> TicketView:
    """Create a ticket: a handful of Core INSERTs, the references from memory; returns the new
    ticket as staff see it (it has no comments yet, so every viewer sees the same)."""
    requester_id = request.user_id if request.user_id is not None else actor.id
    access.ensure_may_create(actor, requester_id=requester_id, assignee_id=request.assigned_to)
    reference = reference_cache.reference(session)
    requester = _requester_record(session, requester_id)
    category = reference.categories.get(request.category_id)
    if category is None or not category.active:
        raise InvalidReference(
            f"no active category with id {request.category_id}", field="category_id"
        )
    if request.priority_id is not None:
        priority = reference.priorities.get(request.priority_id)
        if priority is None:
            raise InvalidReference(
                f"no priority with id {request.priority_id}", field="priority_id"
            )
        if not actor.role.is_staff:
            default = reference.default_priority
            access.ensure_may_choose_priority(
                actor,
                priority_rank=priority.rank,
                most_urgent_rank=min(p.rank for p in reference.priorities.values()),
                is_default=default is not None and priority.id == default.id,
            )
    else:
        priority = reference.default_priority
        if priority is None:
            raise InvalidReference("no priority levels are configured", field="priority_id")
    status = reference.open_status
    if status is None:
        raise LookupError("no open status is configured")
    assignee = _assignee_record(session, request.assigned_to) if request.assigned_to else None
    custom = (
        value_changes(
            reference, actor=actor, category_id=category.id, current={}, sent=request.custom_fields
        )
        if request.custom_fields
        else []
    )
    values = {change.field.id: change.new for change in custom if change.new is not None}
    ensure_required(
        reference, category_id=category.id, values=values, to_resolve=False, actor=actor
    )
    view = open_ticket(
        session,
        actor=actor,
        reference=reference,
        title=request.title,
        description=request.description,
        requester=requester,
        assignee=assignee,
        category=category,
        priority=priority,
        status=status,
        tag_ids=repository.tag_ids(session, request.tag_names()),
        values=[(change.field, change.new) for change in custom if change.new is not None],
        at=utcnow(),
    )
    if actor.role.is_staff:
        return view
    # Customers see neither followers nor staff-only values.
    shown = shown_values(values, reference=reference, staff=False) if values else {}
    return view.model_copy(update={"custom_fields": shown, "followers": None})


def get_visible_ticket(session: Session, *, viewer: User, ref: str) -> Ticket:
    """A ticket by id or TKT- number; one the viewer may not see is as absent as a missing one."""
    ticket_id = parse_ticket_ref(ref)
    ticket = repository.get_ticket(session, ticket_id=ticket_id) if ticket_id else None
    if ticket is None or not access.can_see(viewer, ticket):
        raise NotFound(f"no ticket {ref}")
    return ticket


def read_ticket(session: Session, *, viewer: User, ref: str) -> TicketView:
    """A ticket by id or TKT- number as `viewer` sees it, from plain rows and the reference
    cache; one the viewer may not see is as absent as a missing one."""
    ticket_id = parse_ticket_ref(ref)
    found = (
        ticket_rows.ticket_row_with_comment_count(
            session, ticket_id=ticket_id, include_internal=viewer.role.is_staff
        )
        if ticket_id
        else None
    )
    if found is None or not access.may_see(
        viewer, requester_id=found[0].requester_id, cc_ids=found[0].cc_ids
    ):
        raise NotFound(f"no ticket {ref}")
    row, comment_count = found
    return _view_for(session, row, viewer=viewer, comment_count=comment_count)


def list_tickets(
    session: Session,
    *,
    viewer: User,
    filters: TicketFilters,
    custom_filters: Mapping[str, str] | None = None,
) -> tuple[list[TicketView], int]:
    """A page of the tickets `viewer` may see; `custom_filters` are the `cf_<key>` query
    parameters (customers filter on customer-visible fields only)."""
    custom = (
        value_filters(reference_cache.reference(session), viewer=viewer, params=custom_filters)
        if custom_filters
        else []
    )
    ids, total = repository.find_tickets(
        session, requester_id=access.own_tickets_only(viewer), filters=filters, custom=custom
    )
    views = ticket_views(session, ticket_ids=ids, viewer=viewer)
    return [views[ticket_id] for ticket_id in ids if ticket_id in views], total


def ticket_views(session: Session, *, ticket_ids: list[int], viewer: User) -> dict[int, TicketView]:
    """Tickets by id as `viewer` sees them (no access check: the ids come from a query that
    applied it), from plain rows and the reference cache."""
    rows = ticket_rows.ticket_rows(
        session, ticket_ids=ticket_ids, include_internal=viewer.role.is_staff
    )
    return row_views(session, rows, staff=viewer.role.is_staff)


def check_version(version: int, if_match: str | None) -> None:
    """If-Match carries the ETag the client last saw; anything else means someone wrote since."""
    if if_match is None:
        return
    tags = [tag.strip().removeprefix("W/").strip('"') for tag in if_match.split(",")]
    if "*" not in tags and str(version) not in tags:
        raise StaleVersion(
            f"the ticket is at version {version}, not {if_match}; fetch it and retry",
            field="If-Match",
        )


def _fields_that_differ(row: TicketRow, request: TicketUpdate) -> set[str]:
    """The sent fields whose value is not the ticket's already (a no-op needs no permission)."""
    current: dict[str, Any] = {
        "title": row.title,
        "description": row.description,
        "status_id": row.status_id,
        "priority_id": row.priority_id,
        "category_id": row.category_id,
        "assigned_to": row.assignee_id,
        "tags": sorted(row.tags),
    }
    sent = request.sent_fields()
    wanted = {name: getattr(request, name) for name in sent}
    if "tags" in wanted:
        wanted["tags"] = sorted(wanted["tags"] or [])
    return {name for name in sent if wanted[name] != current[name]}


def update_ticket(
    session: Session, *, actor: User, ref: str, request: TicketUpdate, if_match: str | None
) -> TicketView:
    """Change a ticket with one Core UPDATE guarded by its version; returns it as `actor` sees
    it. The change itself is `shared.ticket_updates.apply_ticket_edit` (rules' actions make
    theirs with it too); the permissions are checked here."""
    ticket_id = parse_ticket_ref(ref)
    row = ticket_rows.ticket_row(session, ticket_id=ticket_id, lock=True) if ticket_id else None
    if row is None or not access.may_see(actor, requester_id=row.requester_id, cc_ids=row.cc_ids):
        raise NotFound(f"no ticket {ref}")
    check_version(row.version, if_match)
    reference = reference_cache.reference(session)
    sent = _fields_that_differ(row, request)
    custom_sent = {input_name(key) for key in request.custom_fields or {}}
    access.ensure_may_edit(actor, requester_id=row.requester_id, fields=sent | custom_sent)
    new_status = status_of(reference, request.status_id) if request.status_id is not None else None
    reopen_status = reference.open_status
    assert reopen_status is not None  # closing the last open status is refused
    access.ensure_may_update(
        actor,
        current_status=reference.statuses[row.status_id],
        fields=sent,
        new_status=new_status,
        reopen_status_id=reopen_status.id,
    )
    edit = TicketEdit(
        sent=frozenset(sent),
        title=request.title,
        description=request.description,
        status_id=request.status_id,
        priority_id=request.priority_id,
        category_id=request.category_id,
        assigned_to=request.assigned_to,
        tags=None if request.tags is None else list(request.tags),
        custom_fields=request.custom_fields or {},
    )
    applied = apply_ticket_edit(
        session,
        row=row,
        edit=edit,
        editor=Editor(user=actor, actor_id=actor.id, event_actor=actor),
        at=utcnow(),
    )
    if applied is None:
        return _view_for(session, row, viewer=actor)
    if actor.role.is_staff:
        return applied.view
    return _view_for(session, applied.row, viewer=actor)


def _view_for(
    session: Session, row: TicketRow, *, viewer: User | None, comment_count: int | None = None
) -> TicketView:
    """The ticket as `viewer` sees it (None: as staff see it, as events carry it)."""
    staff = viewer is None or viewer.role.is_staff
    return row_view_for(session, row, staff=staff, comment_count=comment_count)


# The field of the rows that record an article linked or unlinked (services/api/articles/links.py).
ARTICLE_FIELD = "article"


def _article_of(row: TicketHistory) -> int | None:
    value = row.new_value or row.old_value
    return int(value) if value and value.isdigit() else None


def _visible_history(session: Session, rows: list[TicketHistory]) -> list[TicketHistory]:
    """A customer's history: rows about articles follow the article's visibility now, not when
    the link was made (unpublished: gone, published again: back; deleted: gone)."""
    linked = {
        article
        for row in rows
        if row.field == ARTICLE_FIELD and (article := _article_of(row)) is not None
    }
    published = repository.published_article_ids(session, article_ids=linked) if linked else set()
    return [row for row in rows if row.field != ARTICLE_FIELD or _article_of(row) in published]


def _actor_kind(row: TicketHistory) -> Literal["user", "trigger", "automation", "system"]:
    if row.actor_id is not None:
        return "user"
    if row.actor_trigger_id is not None:
        return "trigger"
    return "automation" if row.actor_automation_id is not None else "system"


def _actor_name(row: TicketHistory) -> str | None:
    if row.actor is not None:
        return row.actor.name
    if row.actor_trigger is not None:
        return row.actor_trigger.name
    return row.actor_automation.name if row.actor_automation is not None else None


def ticket_history(session: Session, *, viewer: User, ref: str) -> list[HistoryOut]:
    ticket = get_visible_ticket(session, viewer=viewer, ref=ref)
    staff = viewer.role.is_staff
    custom = reference_cache.reference(session).custom_fields.values()
    # Rows of custom fields follow the field's visibility now, not when the value was set.
    visible = {input_name(f.key) for f in custom if f.active and f.customer_visible}
    hidden = {input_name(f.key) for f in custom} - visible
    rows = repository.history_rows(
        session,
        ticket_id=ticket.id,
        include_internal=staff,
        with_fields=[ARTICLE_FIELD, *sorted(visible)],
    )
    if not staff:
        rows = [row for row in _visible_history(session, rows) if row.field not in hidden]
    return [
        HistoryOut(
            id=row.id,
            ticket_id=row.ticket_id,
            actor_id=row.actor_id,
            actor_name=_actor_name(row),
            actor_kind=_actor_kind(row),
            actor_trigger_id=row.actor_trigger_id,
            actor_automation_id=row.actor_automation_id,
            field=row.field,
            old_value=row.old_value,
            new_value=row.new_value,
            created_at=row.created_at,
        )
        for row in rows
    ]
