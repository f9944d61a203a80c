"""Merging a ticket into another: the conversation moves, the merged ticket closes.

The source's comments are copied onto the target with their authors and times (internal notes
stay internal; public ones become internal notes when the requesters differ, unless staff ask
otherwise), the source enters the terminal status as a close through PATCH would (the same
status move) with a `merged_into` link, both histories record it, and the source's status
events, a ticket.merged and the target's ticket.updated (`links`) go out.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy.orm import Session

from services.api.comments import repository as comments
from services.api.ticket_links import repository
from services.api.ticket_links.schemas import MergeOut, MergeRequest
from services.api.ticket_links.service import (
    MAX_LINKS_PER_TICKET,
    link_out,
    link_summaries,
    locked_rows,
    may_see,
    names_only_what_its_readers_see,
    record_link_change,
)
from services.api.tickets import repository as tickets
from services.api.tickets.service import check_version
from shared.attachments import copy_comment_attachments
from shared.clock import utcnow
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from shared.event_types import MergeTarget, TicketEventData, TicketMerged
from shared.models import LinkKind, User, parse_ticket_ref, ticket_number
from shared.reference_cache import reference_cache
from shared.ticket_changes import (
    FieldChange,
    HistoryEntry,
    field_change_events,
    record_ticket_change,
)
from shared.ticket_rows import row_view_for
from shared.ticket_updates import move_status
from shared.ticket_view import TicketRow, user_ref


def _ensure_mergeable(session: Session, source: TicketRow, target: TicketRow) -> None:
    if source.id == target.id:
        raise InvalidInput("a ticket cannot be merged into itself", field="into")
    merged = repository.merged_into(session, ticket_id=source.id)
    if merged is not None:
        raise Conflict(
            f"{ticket_number(source.id)} was merged into {ticket_number(merged)} already"
        )
    onward = repository.merged_into(session, ticket_id=target.id)
    if onward is not None:
        raise Conflict(
            f"{ticket_number(target.id)} was merged into {ticket_number(onward)}; merge into "
            "that ticket instead",
            field="into",
        )
    reference = reference_cache.reference(session)
    if reference.statuses[target.status_id].is_closed:
        raise Conflict(
            f"{ticket_number(target.id)} is closed; re-open it before merging into it",
            field="into",
        )
    for ticket_id in (source.id, target.id):
        if repository.link_count(session, ticket_id=ticket_id) >= MAX_LINKS_PER_TICKET:
            raise Conflict(
                f"{ticket_number(ticket_id)} has {MAX_LINKS_PER_TICKET} links, the most a "
                "ticket holds; remove one first",
                field="into",
            )


def merge_ticket(
    session: Session, *, actor: User, ref: str, request: MergeRequest, if_match: str | None
) -> MergeOut:
    """Merge the ticket `ref` into `request.into`: customers their own into their own, staff
    any; `if_match` guards the merged ticket's version."""
    source_id = parse_ticket_ref(ref)
    target_ref = str(request.into)
    target_id = parse_ticket_ref(target_ref)
    rows = locked_rows(session, ticket_ids=[i for i in (source_id, target_id) if i is not None])
    source = rows.get(source_id) if source_id else None
    if source is None or not may_see(actor, source):
        raise NotFound(f"no ticket {ref}")
    target = rows.get(target_id) if target_id else None
    if target is None or not may_see(actor, target):
        raise NotFound(f"no ticket {target_ref}", field="into")
    check_version(source.version, if_match)
    for row, field in ((source, None), (target, "into")):
        if not actor.role.is_staff and row.requester_id != actor.id:
            # Copied on it (CC): a customer reads and replies, only its requester changes it.
            raise Forbidden(
                f"customers merge only tickets they requested, not {ticket_number(row.id)}",
                field=field,
            )
    if request.keep_public_comments is not None and not actor.role.is_staff:
        raise Forbidden(
            "only agents and admins choose how comments are copied", field="keep_public_comments"
        )
    _ensure_mergeable(session, source, target)
    # Public comments stay public by default only when every customer reading the target
    # (its requester and CCs) could read them on the source already.
    keep_public = (
        request.keep_public_comments
        if request.keep_public_comments is not None
        else names_only_what_its_readers_see(target, source)
    )

    now = utcnow()
    target_before = link_summaries(session, ticket_id=target.id)
    # A row naming the other ticket is staff-only when some reader of this one cannot see it.
    target_history: list[HistoryEntry] = [
        HistoryEntry(
            "merged_from",
            None,
            ticket_number(source.id),
            internal=not names_only_what_its_readers_see(target, source),
        )
    ]
    copied = comments.comments_of(session, ticket_id=source.id, include_internal=True)
    for comment in copied:
        internal = comment.is_internal or not keep_public
        comment_id = comments.insert_comment(
            session,
            ticket_id=target.id,
            author_id=comment.author_id,
            body=comment.body,
            internal=internal,
            at=comment.created_at,
        )
        target_history.append(HistoryEntry("comment", None, str(comment_id), internal=internal))
        # The files go with their comment, and are as visible as its copy.
        copy_comment_attachments(
            session, from_comment_id=comment.id, to_ticket_id=target.id, to_comment_id=comment_id
        )
    link = repository.insert_link(
        session,
        from_ticket_id=source.id,
        to_ticket_id=target.id,
        kind=LinkKind.MERGED_INTO,
        created_by_id=actor.id,
        at=now,
    )

    reference = reference_cache.reference(session)
    terminal_id = reference.terminal_status_id
    assert terminal_id is not None  # a workflow has a closed status (seeded, never deleted)
    changes: list[FieldChange] = []
    values: dict[str, Any] = {"updated_at": now, "version": source.version + 1}
    resolved = False
    if source.status_id != terminal_id:
        move = move_status(
            session,
            ticket_id=source.id,
            current=reference.statuses[source.status_id],
            new=reference.statuses[terminal_id],
            terminal_status_id=terminal_id,
            at=now,
        )
        changes.append(move.change)
        values |= move.values
        resolved = move.resolved
    tickets.update_ticket_row(session, ticket_id=source.id, version=source.version, values=values)
    source = replace(source, **values)
    source_view = row_view_for(session, source, staff=True)
    made_internal = not keep_public and any(not comment.is_internal for comment in copied)
    events: list[TicketEventData] = field_change_events(
        source_view, changes, actor=actor, resolved=resolved
    )
    events.append(
        TicketMerged(
            ticket=source_view,
            actor=user_ref(actor),
            into=MergeTarget(id=target.id, number=ticket_number(target.id)),
            comments_copied=len(copied),
            public_comments_made_internal=made_internal,
        )
    )
    record_ticket_change(
        session,
        ticket_id=source.id,
        actor_id=actor.id,
        at=now,
        history=[
            *(change.history_entry() for change in changes),
            HistoryEntry(
                "merged_into",
                None,
                ticket_number(target.id),
                internal=not names_only_what_its_readers_see(source, target),
            ),
        ],
        events=events,
    )
    record_link_change(
        session, target, actor=actor, at=now, before=target_before, history=target_history
    )
    staff = actor.role.is_staff
    facts = repository.ticket_facts(session, ticket_ids=[target.id])[target.id]
    return MergeOut(
        ticket=source_view if staff else row_view_for(session, source, staff=False),
        into=row_view_for(session, target, staff=staff),
        link=link_out(session, link, ticket_id=source.id, other=facts),
        comments_copied=len(copied),
        public_comments_made_internal=made_internal,
    )
