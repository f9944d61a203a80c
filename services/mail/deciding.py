"""What a message becomes: a new ticket, a public reply on one, or nothing (dropped)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.mail.addresses import Recipient
from services.mail.parsing import Mail
from shared.models import (
    LinkKind,
    MailMessage,
    Ticket,
    TicketLink,
    User,
    parse_ticket_ref,
    ticket_ccs,
)

_SUBJECT_NUMBER = re.compile(r"\bTKT-(\d{1,9})\b", re.IGNORECASE)
_BULK_PRECEDENCE = {"bulk", "junk", "list"}
# The local part of the Message-IDs mail out writes: the ticket's root, or one of its messages.
_OUR_MESSAGE_ID = re.compile(r"ticket-(\d{1,10})(?:-[0-9a-f]+)?", re.IGNORECASE)
_THREAD_IDS = 20
# A reply to a merged ticket goes to the ticket it was merged into (merges can chain).
MAX_MERGE_HOPS = 10


@dataclass(frozen=True)
class Drop:
    reason: str


@dataclass(frozen=True)
class NewTicket:
    category_name: str


@dataclass(frozen=True)
class Reply:
    ticket: Ticket


Decision = Drop | NewTicket | Reply


def automatic_reason(
    mail: Mail, *, envelope_sender: str, our_domains: frozenset[str]
) -> str | None:
    """Why the message was written by a machine (auto-reply, bounce, loop), or None."""
    headers = mail.headers
    auto = headers.get("auto-submitted", "").split(";")[0].strip().lower()
    if auto and auto != "no":
        return f"auto-submitted: {auto}"
    precedence = headers.get("precedence", "").strip().lower()
    if precedence in _BULK_PRECEDENCE:
        return f"precedence: {precedence}"
    for name in ("x-autoreply", "x-autorespond"):
        if name in headers:
            return f"{name} header"
    # A bounce is a report at the top; one a customer forwards us inside their mail is theirs.
    if mail.content_type == "multipart/report" and mail.report_type == "delivery-status":
        return "delivery status notification"
    if _our_ticket_id(headers.get("message-id", "").strip("<> "), our_domains=our_domains):
        return "loop: one of our own Message-IDs"
    if not envelope_sender or envelope_sender == "<>":
        return "bounce: null envelope sender"
    return None


def sender_authenticated(mail: Mail, *, trusted: frozenset[str]) -> bool:
    """A relay we trust (its authserv-id in MAIL_TRUSTED_AUTHSERV_IDS) says the From domain
    passed DMARC. `From` alone is whatever the sender typed."""
    domain = mail.sender.addr_spec.rpartition("@")[2].lower()
    for header in mail.authentication_results:
        authserv, _semicolon, results = header.partition(";")
        if not authserv.split() or authserv.split()[0].lower() not in trusted:
            continue
        for result in results.split(";"):
            words = result.lower().split()
            if "dmarc=pass" in words and f"header.from={domain}" in words:
                return True
    return False


def _our_ticket_id(message_id: str, *, our_domains: frozenset[str]) -> int | None:
    """The ticket a Message-ID of mail out names (`ticket-42@…`, `ticket-42-<hex>@…`)."""
    local, _at, domain = message_id.rpartition("@")
    found = _OUR_MESSAGE_ID.fullmatch(local)
    if found is None or domain.lower() not in our_domains:
        return None
    return parse_ticket_ref(found.group(1))


def _threaded_ticket(session: Session, mail: Mail, *, our_domains: frozenset[str]) -> int | None:
    """The ticket of a message, in or out, this one answers (the newest reference first)."""
    # The newest few: a header of thousands of ids must not become one huge query.
    wanted = [*mail.in_reply_to[:_THREAD_IDS], *reversed(mail.references[-_THREAD_IDS:])]
    if not wanted:
        return None
    for message_id in wanted:
        ticket_id = _our_ticket_id(message_id, our_domains=our_domains)
        if ticket_id is not None:
            return ticket_id
    rows = session.execute(
        select(MailMessage.message_id, MailMessage.ticket_id).where(
            MailMessage.message_id.in_(wanted), MailMessage.ticket_id.is_not(None)
        )
    )
    by_id = dict(rows.tuples().all())
    for message_id in wanted:
        ticket_id = by_id.get(message_id)
        if ticket_id is not None:
            return ticket_id
    return None


def _subject_ticket(subject: str) -> int | None:
    found = _SUBJECT_NUMBER.search(subject)
    return parse_ticket_ref(f"TKT-{found.group(1)}") if found else None


def _surviving(session: Session, ticket_id: int) -> int:
    """The ticket a merged ticket lives on in (itself when it was not merged)."""
    for _hop in range(MAX_MERGE_HOPS):
        merged_into = session.scalar(
            select(TicketLink.to_ticket_id).where(
                TicketLink.from_ticket_id == ticket_id, TicketLink.kind == LinkKind.MERGED_INTO
            )
        )
        if merged_into is None:
            break
        ticket_id = merged_into
    return ticket_id


def may_write_on(session: Session, *, sender: User, ticket: Ticket) -> bool:
    """The requester, a CC and staff reply into a ticket; anyone else opens their own."""
    if not sender.active:
        return False
    if sender.role.is_staff or sender.id == ticket.requester_id:
        return True
    copied = session.execute(
        select(ticket_ccs.c.user_id).where(
            ticket_ccs.c.ticket_id == ticket.id, ticket_ccs.c.user_id == sender.id
        )
    ).first()
    return copied is not None


def decide(
    session: Session,
    mail: Mail,
    *,
    recipient: Recipient,
    sender: User | None,
    our_domains: frozenset[str],
) -> Decision:
    """A reply when the message names a ticket (thread headers, plus address, subject) and
    its sender may write on it; a new ticket otherwise."""
    candidates = [
        _threaded_ticket(session, mail, our_domains=our_domains),
        recipient.ticket_id,
        _subject_ticket(mail.subject),
    ]
    if sender is not None:
        for ticket_id in candidates:
            if ticket_id is None:
                continue
            ticket = session.get(Ticket, _surviving(session, ticket_id))
            if ticket is not None and may_write_on(session, sender=sender, ticket=ticket):
                return Reply(ticket)
    return NewTicket(recipient.category_name)
