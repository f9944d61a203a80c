"""The support addresses mail is taken for: each one's category, and its plus form
(`help+TKT-042@…`) naming a ticket."""

from __future__ import annotations

from dataclasses import dataclass

from shared.models import parse_ticket_ref


@dataclass(frozen=True)
class Recipient:
    address: str  # the configured address, lower-cased
    category_name: str
    ticket_id: int | None  # from the plus form


def recipient_for(address: str, *, configured: dict[str, str]) -> Recipient | None:
    """The support address `address` is, or None (550: we take no mail for it)."""
    text = address.strip().lower()
    local, at, domain = text.rpartition("@")
    if not at or not local:
        return None
    if text in configured:
        return Recipient(text, configured[text], None)
    base, plus, tag = local.partition("+")
    plain = f"{base}@{domain}"
    if not plus or plain not in configured:
        return None
    ticket_id = parse_ticket_ref(tag.upper())
    if ticket_id is None:
        return None
    return Recipient(plain, configured[plain], ticket_id)


def reply_address(address: str, *, ticket_number: str) -> str:
    """The plus form of a support address that leads back to a ticket (for mail out)."""
    local, _at, domain = address.rpartition("@")
    return f"{local}+{ticket_number.lower()}@{domain}"
