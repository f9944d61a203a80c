"""Bulk updates: one change applied to many tickets, an outcome per ticket."""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import BaseModel, Field, ValidationInfo, field_validator, model_validator

from services.api.openapi import Problem
from services.api.schemas import LONG_TEXT, Id, StrictInput
from services.api.tickets.schemas import TAGS_DESCRIPTION, TicketUpdate, normalise_tags
from shared.models import parse_ticket_ref
from shared.ticket_view import TicketView

MAX_BULK_TICKETS = 500

RefText = Annotated[str, Field(min_length=1, max_length=40)]
# A ticket named as PATCH /tickets/{ref} names it: its id (42, "42") or its number ("TKT-042").
TicketRef = Annotated[int, Field(ge=1)] | RefText


class VersionedTicket(StrictInput):
    """A ticket and the version last read: if it has changed since, its outcome is 412."""

    id: TicketRef
    version: Id = Field(description="The ticket's `version` (ETag) as last read.")


BulkTicket = TicketRef | VersionedTicket


def ref_of(ticket: BulkTicket) -> int | str:
    """The ticket as the request named it."""
    return ticket.id if isinstance(ticket, VersionedTicket) else ticket


def expected_version(ticket: BulkTicket) -> int | None:
    return ticket.version if isinstance(ticket, VersionedTicket) else None


def _identity(ticket: BulkTicket) -> int | str:
    """The same ticket named twice (42, "42", "TKT-042") is the same identity."""
    ref = str(ref_of(ticket))
    return parse_ticket_ref(ref) or ref


class BulkChanges(TicketUpdate):
    """What PATCH /tickets/{id} takes, but for a ticket's own text (a title or description is
    one ticket's, never 500's), plus tags added or removed keeping each ticket's others."""

    add_tags: list[str] | str | None = Field(
        default=None, description="Tags to add, keeping the ticket's others. " + TAGS_DESCRIPTION
    )
    remove_tags: list[str] | str | None = Field(
        default=None, description="Tags to remove, keeping the ticket's others."
    )

    @field_validator("add_tags", "remove_tags", mode="before")
    @classmethod
    def _tag_changes(cls, value: Any) -> list[str] | None:
        return normalise_tags(value)

    @model_validator(mode="after")
    def _one_change_for_many(self) -> Self:
        sent = self.model_fields_set
        own_text = sorted(sent & {"title", "description"})
        if own_text:
            raise ValueError(f"{' and '.join(own_text)} cannot be changed in bulk")
        if "tags" in sent and sent & {"add_tags", "remove_tags"}:
            raise ValueError("send tags (replacing them) or add_tags / remove_tags, not both")
        if set(self.add_tags or []) & set(self.remove_tags or []):
            raise ValueError("a tag cannot be both added and removed")
        if not sent or (sent <= {"custom_fields"} and not self.custom_fields):
            raise ValueError("changes must change something")
        return self

    def ticket_update(self, *, current_tags: list[str] | None) -> TicketUpdate:
        """The PATCH body this change is for a ticket with `current_tags` (None: unknown)."""
        fields = self.model_dump(exclude_unset=True, exclude={"add_tags", "remove_tags"})
        if current_tags is not None and (self.add_tags or self.remove_tags):
            removed = set(self.remove_tags or [])
            kept = [tag for tag in current_tags if tag not in removed]
            fields["tags"] = kept + [tag for tag in self.add_tags or [] if tag not in kept]
        return TicketUpdate.model_validate(fields)


class BulkUpdate(StrictInput):
    """One change, or one macro, for up to 500 tickets: exactly one of `changes` and
    `macro_id`."""

    tickets: list[BulkTicket] = Field(
        min_length=1,
        max_length=MAX_BULK_TICKETS,
        description="The tickets, each an id, a TKT- number or {id, version} (its version as "
        "last read: a ticket changed since gets 412). Each ticket once.",
    )
    macro_id: Id | None = Field(
        default=None,
        description="A macro (a shared one or yours) to apply to each ticket, as POST "
        "/tickets/{id}/macros/{macro_id} would; instead of `changes`.",
    )
    # Long text: custom field values of the long-text type may hold line breaks; BulkChanges
    # checks each of its own fields.
    changes: Annotated[BulkChanges | None, LONG_TEXT] = Field(
        default=None,
        validate_default=True,
        description="What PATCH /tickets/{id} takes (not title or description), plus add_tags "
        "and remove_tags.",
    )

    @field_validator("changes", mode="after")
    @classmethod
    def _changes_or_macro(cls, changes: BulkChanges | None, info: ValidationInfo) -> Any:
        """Exactly one of them (macro_id comes first: it is known here, unless refused)."""
        if "macro_id" in info.data and (changes is None) == (info.data["macro_id"] is None):
            raise ValueError("send exactly one of changes and macro_id")
        return changes

    @field_validator("tickets")
    @classmethod
    def _each_ticket_once(cls, tickets: list[BulkTicket]) -> list[BulkTicket]:
        first: dict[int | str, int] = {}
        for position, ticket in enumerate(tickets):
            seen = first.setdefault(_identity(ticket), position)
            if seen != position:
                raise ValueError(
                    f"ticket {ref_of(ticket)} is listed twice (positions {seen} and {position})"
                )
        return tickets


class BulkTicketOutcome(BaseModel):
    """What happened to one ticket: 200 with the ticket as it is now (changed or already as
    wanted), or the status and problem a PATCH of it alone would have got."""

    ref: int | str = Field(description="The ticket as the request named it.")
    status: int = Field(description="200, or 403, 404, 409, 412, 422 as for a PATCH.")
    changed: bool = Field(description="false: already as wanted, or refused.")
    ticket: TicketView | None = None
    error: Problem | None = None


class BulkOutcome(BaseModel):
    results: list[BulkTicketOutcome] = Field(description="One per ticket, in the request's order.")
    changed: int = Field(description="Tickets changed (each got its events).")
    unchanged: int = Field(description="Tickets already as wanted: no event.")
    failed: int = Field(description="Tickets refused: nothing of theirs changed.")
