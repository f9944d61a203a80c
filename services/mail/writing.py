"""Taking a message in: its record in mail_messages and the ticket or reply it becomes, in one
transaction, through the same ticket and comment code the API writes with."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from email.headerregistry import Address
from typing import Any

from mailparser_reply import EmailReplyParser
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.mail.addresses import Recipient
from services.mail.deciding import (
    Drop,
    NewTicket,
    Reply,
    automatic_reason,
    decide,
    sender_authenticated,
)
from services.mail.parsing import Mail, Unreadable, read_mail
from shared.attachments import NewFile, add_attachments
from shared.blob_store import BlobStore
from shared.clock import utcnow
from shared.comment_creation import write_comment
from shared.db import insert_ignoring_duplicates
from shared.models import MailDirection, MailMessage, MailOutcome, Role, User
from shared.reference_cache import reference_cache
from shared.settings import get_settings
from shared.ticket_creation import open_ticket
from shared.unit_of_work import transaction

logger = logging.getLogger(__name__)

MAX_TITLE = 200
MAX_TEXT = 20_000  # the API's limit on a description and a comment
NO_SUBJECT = "(no subject)"
NO_TEXT = "(the message had no text; the original message is kept with it)"
TRUNCATED = "\n\n[…cut here: the whole text is in the original message]"


# Replies are trimmed within their first this many characters.
TRIM_WINDOW = 8192


@dataclass(frozen=True)
class Intake:
    """What became of a message (the receiver's answer follows from it)."""

    outcome: MailOutcome
    reason: str = ""
    ticket_id: int | None = None
    comment_id: int | None = None


@dataclass
class IntakeSettings:
    addresses: dict[str, str]
    our_domains: frozenset[str]
    database_timeout: timedelta
    store: BlobStore
    trusted_authserv_ids: frozenset[str] = frozenset()
    max_message_bytes: int = 26_214_400
    reply_languages: list[str] = field(default_factory=lambda: ["en", "de", "fr", "es", "nl"])


def _fit(value: str, limit: int, *, suffix: str = "") -> str:
    return value if len(value) <= limit else value[: limit - len(suffix)].rstrip() + suffix


def trimmed_reply(body: str, *, languages: list[str]) -> str:
    """The newest part of a reply: quoted history, "On … wrote:" and signatures cut off.
    Only the first TRIM_WINDOW characters are read (the library's time grows faster than the
    text); when nothing is cut there, the whole text is kept."""
    head = body[:TRIM_WINDOW]
    try:
        replies = EmailReplyParser(languages=languages).read(head).replies
    except Exception:  # the library's regexes meet every kind of text; keep the whole one then
        return body.strip()
    latest = replies[0].body.strip() if replies else ""
    if not latest or (len(body) > TRIM_WINDOW and latest == head.strip()):
        return body.strip()
    return latest


def _limit_waits(session: Session, timeout: timedelta) -> None:
    """On PostgreSQL, give up on a lock or statement after `timeout` (SQLite waits
    SQLITE_BUSY_TIMEOUT_MS for its write lock): the sender is told 451 and retries."""
    if session.get_bind().dialect.name == "postgresql":
        milliseconds = int(timeout.total_seconds() * 1000)
        session.execute(text(f"SET LOCAL lock_timeout = {milliseconds}"))
        session.execute(text(f"SET LOCAL statement_timeout = {milliseconds}"))


def _sender_user(session: Session, address: Address, *, create: bool) -> User | None:
    """The user with the sender's address; a new customer named from `From` when `create`."""
    email = address.addr_spec.strip().lower()[:254]
    found = session.scalars(select(User).where(User.email == email)).first()
    if found is not None or not create:
        return found
    name = (address.display_name or address.username or email).strip()[:200] or email
    now = utcnow()
    insert_ignoring_duplicates(
        session,
        User,
        [
            {
                "name": name,
                "email": email,
                "role": Role.CUSTOMER,
                "active": True,
                "is_bot": False,
                "created_at": now,
                "updated_at": now,
            }
        ],
    )
    return session.scalars(select(User).where(User.email == email)).one()


def _record(
    session: Session,
    *,
    message_id: str,
    sender: str,
    subject: str,
    blob: str,
    parts: list[dict[str, Any]],
    intake: Intake,
) -> Intake:
    session.add(
        MailMessage(
            message_id=message_id,
            direction=MailDirection.IN,
            ticket_id=intake.ticket_id,
            comment_id=intake.comment_id,
            from_address=sender[:320],
            subject=subject,
            raw_blob=blob,
            parts=parts,
            outcome=intake.outcome,
            reason=intake.reason,
            received_at=utcnow(),
        )
    )
    session.flush()
    return intake


def _attach(
    session: Session,
    mail: Mail,
    raw: bytes,
    *,
    ticket_id: int,
    comment_id: int | None,
    sender: User,
) -> str:
    """Attach the original message (message.eml) and the mail's parts to the ticket or the
    comment it became; a part over the size limit stays in the mail record only (the reason
    says so). The per-ticket count limit is for uploads: mail's are bounded per message."""
    settings = get_settings()
    files = [
        NewFile("message.eml", "message/rfc822", raw),
        *(NewFile(part.filename or None, part.content_type, part.data) for part in mail.parts),
    ]
    kept = [new for new in files if len(new.data) <= settings.attachment_max_bytes]
    if kept:
        add_attachments(
            session,
            ticket_id=ticket_id,
            comment_id=comment_id,
            files=kept,
            uploaded_by=sender,
            source="mail",
        )
    left_out = len(files) - len(kept)
    return f"{left_out} attachment(s) over the attachment limits not attached" if left_out else ""


def _taken(
    session: Session,
    mail: Mail,
    raw: bytes,
    *,
    envelope_sender: str,
    recipient: Recipient,
    how: IntakeSettings,
) -> Intake:
    """The ticket or reply the message becomes (or why it becomes neither)."""
    reason = automatic_reason(mail, envelope_sender=envelope_sender, our_domains=how.our_domains)
    if reason is not None:
        return Intake(MailOutcome.DROPPED, reason)
    if mail.sender.addr_spec.lower() in how.addresses:
        return Intake(MailOutcome.DROPPED, "loop: sent from one of our support addresses")
    known = _sender_user(session, mail.sender, create=False)
    if (
        known is not None
        and known.role.is_staff
        and not sender_authenticated(mail, trusted=how.trusted_authserv_ids)
    ):
        # Anyone can type an agent's address in From: it writes nothing as them unproven.
        return Intake(
            MailOutcome.QUARANTINED,
            f"from staff address {known.email}, but no trusted relay says it passed DMARC",
        )
    decision = decide(session, mail, recipient=recipient, sender=known, our_domains=how.our_domains)
    if isinstance(decision, Drop):
        return Intake(MailOutcome.DROPPED, decision.reason)
    if isinstance(decision, Reply):
        assert known is not None
        body = trimmed_reply(mail.text, languages=how.reply_languages) or NO_TEXT
        comment = write_comment(
            session,
            ticket=decision.ticket,
            actor=known,
            body=_fit(body, MAX_TEXT, suffix=TRUNCATED),
            internal=False,
        )
        note = _attach(
            session, mail, raw, ticket_id=decision.ticket.id, comment_id=comment.id, sender=known
        )
        return Intake(
            MailOutcome.COMMENTED, note, ticket_id=decision.ticket.id, comment_id=comment.id
        )
    intake = _new_ticket(session, mail, decision, known=known)
    if intake.outcome is MailOutcome.TICKET_CREATED and intake.ticket_id is not None:
        sender = _sender_user(session, mail.sender, create=False)
        assert sender is not None
        note = _attach(
            session, mail, raw, ticket_id=intake.ticket_id, comment_id=None, sender=sender
        )
        return Intake(intake.outcome, note, ticket_id=intake.ticket_id)
    return intake


def _new_ticket(session: Session, mail: Mail, decision: NewTicket, *, known: User | None) -> Intake:
    sender = known or _sender_user(session, mail.sender, create=True)
    assert sender is not None
    if not sender.active:
        return Intake(MailOutcome.QUARANTINED, f"the sender {sender.email} is deactivated")
    reference = reference_cache.reference(session)
    category = next(
        (c for c in reference.categories.values() if c.name == decision.category_name), None
    )
    if category is None or not category.active:
        return Intake(
            MailOutcome.QUARANTINED, f"no active category named {decision.category_name!r}"
        )
    requester = reference_cache.person(session, user_id=sender.id)
    priority, status = reference.default_priority, reference.open_status
    if requester is None or priority is None or status is None:
        return Intake(MailOutcome.QUARANTINED, "no default priority or open status configured")
    view = open_ticket(
        session,
        actor=sender,
        reference=reference,
        title=_fit(mail.subject.strip() or NO_SUBJECT, MAX_TITLE, suffix="…"),
        description=_fit(mail.text or NO_TEXT, MAX_TEXT, suffix=TRUNCATED),
        requester=requester,
        assignee=None,
        category=category,
        priority=priority,
        status=status,
        tag_ids={},
        at=utcnow(),
    )
    return Intake(MailOutcome.TICKET_CREATED, ticket_id=view.id)


def _already_taken(session: Session, message_id: str) -> Intake | None:
    found = session.execute(
        select(MailMessage.ticket_id, MailMessage.comment_id).where(
            MailMessage.message_id == message_id, MailMessage.direction == MailDirection.IN
        )
    ).first()
    if found is None:
        return None
    return Intake(MailOutcome.DUPLICATE, "already taken in", found[0], found[1])


def take_in(
    raw: bytes, *, envelope_sender: str, recipient: Recipient, how: IntakeSettings
) -> Intake:
    """Record the message and write what it becomes, committed before this returns. Database
    errors propagate (the receiver answers 451); nothing else about the message raises."""
    read = read_mail(raw)
    # Content-addressed, so storing before the transaction is safe: a retry writes no copy.
    blob = how.store.put(raw)
    parts: list[dict[str, Any]] = []
    if isinstance(read, Mail):
        parts = [
            {
                "filename": part.filename,
                "content_type": part.content_type,
                "blob": how.store.put(part.data),
                "size": len(part.data),
            }
            for part in read.parts
        ]
    try:
        with transaction() as session:
            _limit_waits(session, how.database_timeout)
            duplicate = _already_taken(session, read.message_id)
            if duplicate is not None:
                return duplicate
            if isinstance(read, Unreadable):
                intake = Intake(MailOutcome.QUARANTINED, read.reason)
                sender, subject = read.sender, read.subject
            else:
                intake = _taken(
                    session,
                    read,
                    raw,
                    envelope_sender=envelope_sender,
                    recipient=recipient,
                    how=how,
                )
                sender, subject = read.sender.addr_spec, read.subject
            return _record(
                session,
                message_id=read.message_id,
                sender=sender,
                subject=subject,
                blob=blob,
                parts=parts,
                intake=intake,
            )
    except IntegrityError:
        # The same message taken in at the same time by another delivery: theirs committed.
        with transaction(write=False) as session:
            duplicate = _already_taken(session, read.message_id)
        if duplicate is None:
            raise
        return duplicate


def quarantine(raw: bytes, *, reason: str, how: IntakeSettings) -> Intake:
    """Record a message whose intake failed for a reason of its own (not the database's) as
    quarantined, so the sending server stops retrying what would fail every time."""
    read = read_mail(raw)
    blob = how.store.put(raw)
    with transaction() as session:
        _limit_waits(session, how.database_timeout)
        duplicate = _already_taken(session, read.message_id)
        if duplicate is not None:
            return duplicate
        sender = read.sender if isinstance(read, Unreadable) else read.sender.addr_spec
        return _record(
            session,
            message_id=read.message_id,
            sender=sender,
            subject=read.subject,
            blob=blob,
            parts=[],
            intake=Intake(MailOutcome.QUARANTINED, reason[:2000]),
        )
