"""The people on a ticket besides its requester and assignee: staff who follow it, customers
copied on it (CCs)."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    String,
    Table,
    cast,
    func,
    literal_column,
    select,
    union_all,
)
from sqlalchemy.sql._typing import _ColumnExpressionArgument
from sqlalchemy.sql.elements import ColumnElement

from shared.models.base import Base, UTCDateTime


def _people_table(name: str) -> Table:
    return Table(
        name,
        Base.metadata,
        Column("ticket_id", ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True),
        Column("user_id", ForeignKey("users.id"), primary_key=True),
        # None: the system added them (no such writer yet; kept for the mail issue's replies).
        Column("added_by_id", ForeignKey("users.id")),
        Column("added_at", UTCDateTime(), nullable=False),
        # "Which tickets does this user follow / is this customer copied on": the CC's access.
        Index(f"ix_{name}_user_id", "user_id"),
    )


# Staff (agents, admins) following a ticket: the mail issue notifies them of its changes.
ticket_followers = _people_table("ticket_followers")
# Customers copied on a ticket: they see it and its public conversation as its requester does.
ticket_ccs = _people_table("ticket_ccs")

# Marks written as literal SQL, not bound parameters: the prepared reads of a ticket bind only
# their own.
FOLLOWER_MARK, CC_MARK = "f", "c"


def participants_of(ticket_id: _ColumnExpressionArgument[int]) -> ColumnElement[str | None]:
    """The scalar subquery of a ticket's followers and CCs as one text, `f<user id>` or
    `c<user id>` each, comma-separated (NULL: nobody), read with the ticket's row."""
    followers = (
        select(
            literal_column(f"'{FOLLOWER_MARK}'").label("mark"),
            ticket_followers.c.user_id.label("user_id"),
        )
        .where(ticket_followers.c.ticket_id == ticket_id)
        .correlate_except(ticket_followers)
    )
    ccs = (
        select(literal_column(f"'{CC_MARK}'").label("mark"), ticket_ccs.c.user_id.label("user_id"))
        .where(ticket_ccs.c.ticket_id == ticket_id)
        .correlate_except(ticket_ccs)
    )
    both = union_all(followers, ccs).subquery()
    entry = both.c.mark + cast(both.c.user_id, String)
    return select(func.aggregate_strings(entry, ",")).scalar_subquery()


def parse_participants(text: str | None) -> tuple[list[int], list[int]]:
    """The (follower ids, CC ids) of the aggregated text, each in id order."""
    if not text:
        return [], []
    followers: list[int] = []
    ccs: list[int] = []
    for entry in text.split(","):
        (followers if entry[0] == FOLLOWER_MARK else ccs).append(int(entry[1:]))
    return sorted(followers), sorted(ccs)
