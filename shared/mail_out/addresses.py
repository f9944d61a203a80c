"""Who mail comes from, where replies go, and the Message-IDs that thread a ticket's mail."""

from __future__ import annotations

import uuid
from email.utils import formataddr

from shared.settings import Settings


def category_addresses(settings: Settings) -> dict[str, str]:
    """MAIL_ADDRESSES ("addr=Category Name,...") as {category name, case-folded: address}; the
    first address named for a category is the one its mail comes from."""
    found: dict[str, str] = {}
    for entry in settings.mail_addresses.split(","):
        address, _, category = entry.partition("=")
        if address.strip() and category.strip():
            found.setdefault(category.strip().casefold(), address.strip())
    return found


def support_address(settings: Settings, *, category: str) -> str:
    return category_addresses(settings).get(category.casefold(), settings.mail_support_address)


def reply_address(settings: Settings, *, category: str, ticket_number: str) -> str:
    """`local+TKT-042@domain`: a reply to it leads back to the ticket."""
    local, _, domain = support_address(settings, category=category).rpartition("@")
    return f"{local}+{ticket_number}@{domain}"


def from_header(settings: Settings, *, reply_to: str) -> str:
    return formataddr((settings.mail_from_name, reply_to))


def mail_domain(settings: Settings) -> str:
    return settings.mail_domain or settings.mail_support_address.rpartition("@")[2] or "localhost"


def root_message_id(settings: Settings, *, ticket_id: int) -> str:
    """The conversation's root: every message of the ticket refers to it, so a client threads
    them even when it never saw the first."""
    return f"<ticket-{ticket_id}@{mail_domain(settings)}>"


def new_message_id(settings: Settings, *, ticket_id: int) -> str:
    return f"<ticket-{ticket_id}-{uuid.uuid4().hex}@{mail_domain(settings)}>"
