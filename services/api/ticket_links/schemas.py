from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field, StringConstraints

from services.api.schemas import StrictInput
from shared.models import LinkKind
from shared.ticket_view import TicketView, UserRef


def _id_as_text(value: Any) -> Any:
    """A numeric id sent as a JSON number is the same reference as its digits (not a bool)."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


TicketReference = Annotated[
    str,
    BeforeValidator(_id_as_text),
    StringConstraints(strip_whitespace=True, min_length=1, max_length=40),
    Field(description="The other ticket: its numeric id (42) or its number (TKT-042)."),
]


class LinkSide(StrEnum):
    """A link as one of its tickets sees it: the other side reads the inverse kind."""

    RELATED = "related"
    DUPLICATE_OF = "duplicate_of"
    DUPLICATED_BY = "duplicated_by"
    PARENT_OF = "parent_of"
    CHILD_OF = "child_of"
    MERGED_INTO = "merged_into"
    MERGED_FROM = "merged_from"


# How a stored link reads from its `from` ticket and from its `to` ticket.
SIDES: dict[LinkKind, tuple[LinkSide, LinkSide]] = {
    LinkKind.RELATED: (LinkSide.RELATED, LinkSide.RELATED),
    LinkKind.DUPLICATE_OF: (LinkSide.DUPLICATE_OF, LinkSide.DUPLICATED_BY),
    LinkKind.PARENT_OF: (LinkSide.PARENT_OF, LinkSide.CHILD_OF),
    LinkKind.MERGED_INTO: (LinkSide.MERGED_INTO, LinkSide.MERGED_FROM),
}


class NewLinkKind(StrEnum):
    """The kinds a link is made with; `merged_into` comes from merging only."""

    RELATED = "related"
    DUPLICATE_OF = "duplicate_of"
    DUPLICATED_BY = "duplicated_by"
    PARENT_OF = "parent_of"
    CHILD_OF = "child_of"


class LinkCreate(StrictInput):
    kind: NewLinkKind = Field(
        description="How this ticket relates to the other: related, duplicate_of, "
        "duplicated_by, parent_of or child_of."
    )
    ticket: TicketReference


class LinkedTicket(BaseModel):
    id: int
    number: str
    title: str
    status: str = Field(description="The name of its status.")


class TicketLinkOut(BaseModel):
    id: int
    kind: LinkSide = Field(description="How this ticket relates to the linked one.")
    ticket: LinkedTicket
    created_by: UserRef | None
    created_at: datetime


class MergeRequest(StrictInput):
    into: TicketReference
    keep_public_comments: bool | None = Field(
        default=None,
        description="Copy the public comments as public ones (true) or as internal notes "
        "(false). By default they stay public when both tickets have the same requester and "
        "become internal notes otherwise, so no customer reads another's words. Staff only.",
    )


class MergeOut(BaseModel):
    ticket: TicketView = Field(description="The merged ticket, now closed.")
    into: TicketView = Field(description="The ticket it was merged into.")
    link: TicketLinkOut = Field(description="The merged_into link, as the merged ticket sees it.")
    comments_copied: int
    public_comments_made_internal: bool
