"""The support addresses mail is taken for: each one's category, and its plus form
(`help+TKT-042@…`) naming a ticket."""

from __future__ import annotations

from dataclasses import dataclass

from shared.models import parse_ticket_ref


def support_addresses(text: str) -> dict[str, str]:
    """MAIL_ADDRESSES ("address=Category name,...") as {address, lower-cased: category name};
    ValueError for an entry that is not one."""
    found: dict[str, str] = {}
    for entry in filter(None, (piece.strip() for piece in text.split(","))):
        address, equals, category = entry.partition("=")
        local, at, domain = address.strip().rpartition("@")
        if not equals or not at or not local or not domain or not category.strip():
            raise ValueError(f"expected address=Category name, not {entry!r}")
        found[address.strip().lower()] = category.strip()
    return found


def our_domains(
    addresses: dict[str, str], *, mail_domain: str, support_address: str
) -> frozenset[str]:
    """The domains our Message-IDs are written with: MAIL_DOMAIN, or (as mail out writes them)
    MAIL_SUPPORT_ADDRESS's domain; and the support addresses' domains."""
    found = {address.rpartition("@")[2] for address in addresses}
    found.add((mail_domain or support_address.rpartition("@")[2]).lower())
    return frozenset(domain for domain in found if domain)


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
