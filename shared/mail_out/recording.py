"""What the worker mails for a ticket event, recorded in the transaction that marks the event
handled: a redelivered event mails nothing twice, and a crash before the commit loses nothing
(the event is handled again)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.event_types import EventType
from shared.mail_out import addresses
from shared.mail_out.templates import (
    DEFAULTS,
    RenderedMail,
    TemplateText,
    current_template,
    render,
)
from shared.models import (
    MailDirection,
    MailKind,
    MailMessage,
    MailOutcome,
    MailStatus,
    OutboundMail,
    OutboxEvent,
    Ticket,
    User,
)
from shared.models.participant import parse_participants
from shared.settings import Settings

logger = logging.getLogger(__name__)

MAIL_RECORDED = "mail_out.recorded"
# Earlier messages a new one names in References: enough to thread, short enough for a header.
_REFERENCES_KEPT = 20

_KINDS = {
    EventType.TICKET_CREATED.value: MailKind.ACKNOWLEDGEMENT,
    EventType.TICKET_COMMENTED.value: MailKind.REPLY,
    EventType.TICKET_RESOLVED.value: MailKind.RESOLUTION,
}


@dataclass(frozen=True)
class _Occasion:
    event_id: str
    kind: MailKind
    ticket: Ticket
    actor_id: int | None
    data: dict[str, Any]


def mail_recorded(session: Session) -> bool:
    """Whether the session's transaction recorded mail (to send after its commit)."""
    return bool(session.info.get(MAIL_RECORDED))


def mail_out_enabled(settings: Settings) -> bool:
    return bool(settings.smtp_host)


def record_ticket_mail(
    session: Session,
    *,
    events: Sequence[tuple[str, str, int | None]],
    settings: Settings,
    now: datetime,
) -> int:
    """One message per recipient for each event that mails anyone; how many were recorded."""
    if not mail_out_enabled(settings):
        return 0
    wanted = {
        event_id: _KINDS[kind]
        for event_id, kind, ticket_id in events
        if kind in _KINDS
        and ticket_id is not None
        and (kind != EventType.TICKET_CREATED or settings.mail_acknowledge_new_tickets)
    }
    if not wanted:
        return 0
    # .all(): a Result has keys(), which dict() would take it for a mapping by.
    payloads: dict[str, str] = dict(
        session.execute(
            select(OutboxEvent.event_id, OutboxEvent.payload).where(
                OutboxEvent.event_id.in_(list(wanted))
            )
        ).all()
    )
    recorded = 0
    for event_id, _kind, ticket_id in events:
        if event_id not in wanted or event_id not in payloads or ticket_id is None:
            continue
        ticket = session.get(Ticket, ticket_id)
        if ticket is None:
            continue
        data = orjson.loads(payloads[event_id]).get("data", {})
        actor = data.get("actor") or {}
        occasion = _Occasion(
            event_id=event_id,
            kind=wanted[event_id],
            ticket=ticket,
            actor_id=actor.get("id") if actor.get("kind", "user") == "user" else None,
            data=data,
        )
        recorded += _record(session, occasion, settings=settings, now=now)
    if recorded:
        session.info[MAIL_RECORDED] = True
    return recorded


def _comment_of(session: Session, occasion: _Occasion) -> dict[str, Any] | None:
    """A public reply by staff, or None: internal notes are never mailed, and a customer's own
    comment mails nobody (the requester wrote it or sees it on the ticket; staff are not
    mailed by this feature)."""
    comment = occasion.data.get("comment") or {}
    if comment.get("internal", True):
        return None
    author = session.get(User, (comment.get("author") or {}).get("id"))
    if author is None or not author.role.is_staff:
        return None
    return {"id": comment.get("id"), "body": str(comment.get("body", "")), "author": author.name}


def _recipients(session: Session, occasion: _Occasion) -> list[User]:
    """The requester and the CCs, but the one who acted (the requester is still told their
    ticket was opened), and nobody who opted out or was deactivated."""
    ticket = occasion.ticket
    _followers, ccs = parse_participants(ticket.participants_text)
    ids = list(dict.fromkeys([ticket.requester_id, *ccs]))
    people = {user.id: user for user in session.scalars(select(User).where(User.id.in_(ids)))}
    chosen = []
    for user_id in ids:
        user = people.get(user_id)
        if user is None or user.mail_opt_out or not user.active or not user.email:
            continue
        acknowledged = occasion.kind is MailKind.ACKNOWLEDGEMENT and user_id == ticket.requester_id
        if user_id == occasion.actor_id and not acknowledged:
            continue
        chosen.append(user)
    return chosen


def _variables(
    occasion: _Occasion, *, recipient: User, reply_to: str, comment: dict[str, Any] | None
) -> dict[str, Any]:
    ticket = occasion.ticket
    variables: dict[str, Any] = {
        "ticket": {
            "number": ticket.number,
            "title": ticket.title,
            "status": ticket.status.name,
            "category": ticket.category.name,
            "priority": ticket.priority.name,
        },
        "recipient": {"name": recipient.name},
        "requester": {"name": ticket.requester.name},
        "support_address": reply_to,
    }
    if occasion.kind is MailKind.ACKNOWLEDGEMENT:
        variables["ticket"]["description"] = ticket.description
    elif occasion.kind is MailKind.REPLY and comment is not None:
        variables["comment"] = {"body": comment["body"], "author": comment["author"]}
    else:
        actor = occasion.data.get("actor") or {}
        variables["resolved_by"] = str(actor.get("name", "")) if occasion.actor_id else ""
    return variables


def _rendered(kind: MailKind, template: TemplateText, variables: dict[str, Any]) -> RenderedMail:
    """The admins' template, or the shipped one if theirs fails on real data (it was checked
    against sample data only): a template must never stop the worker handling events."""
    try:
        return render(template, variables)
    except Exception as exc:  # noqa: BLE001 - any error of theirs, not only Jinja's
        logger.error("mail template %s failed (%s); sent the default instead", kind.value, exc)
        return render(DEFAULTS[kind], variables)


def _earlier_message_ids(session: Session, *, ticket_id: int, to_address: str) -> list[str]:
    """The ticket's conversation with this address so far, oldest first: what we mailed them
    and what they mailed us (so our first answer threads under the mail that opened the
    ticket, and a reply under their latest)."""
    sent = (
        select(OutboundMail.message_id.label("message_id"), OutboundMail.created_at.label("at"))
        .where(OutboundMail.ticket_id == ticket_id, OutboundMail.to_address == to_address)
        .order_by(OutboundMail.id.desc())
        .limit(_REFERENCES_KEPT)
    )
    received = (
        select(MailMessage.message_id.label("message_id"), MailMessage.received_at.label("at"))
        .where(
            MailMessage.ticket_id == ticket_id,
            MailMessage.direction == MailDirection.IN,
            func.lower(MailMessage.from_address) == to_address.lower(),
            MailMessage.outcome.in_([MailOutcome.TICKET_CREATED, MailOutcome.COMMENTED]),
            # A message that came without a Message-ID has a name of ours no client knows.
            MailMessage.message_id.not_like("%@sha256.invalid"),
        )
        .order_by(MailMessage.id.desc())
        .limit(_REFERENCES_KEPT)
    )
    conversation = [(at, message_id) for message_id, at in session.execute(sent)]
    conversation += [(at, f"<{message_id}>") for message_id, at in session.execute(received)]
    conversation.sort()
    return [message_id for _, message_id in conversation[-_REFERENCES_KEPT:]]


def _record(session: Session, occasion: _Occasion, *, settings: Settings, now: datetime) -> int:
    comment = None
    if occasion.kind is MailKind.REPLY:
        comment = _comment_of(session, occasion)
        if comment is None:
            return 0
    recipients = _recipients(session, occasion)
    if not recipients:
        return 0
    ticket = occasion.ticket
    template = current_template(session, occasion.kind)
    reply_to = addresses.reply_address(
        settings, category=ticket.category.name, ticket_number=ticket.number
    )
    root = addresses.root_message_id(settings, ticket_id=ticket.id)
    for recipient in recipients:
        rendered = _rendered(
            occasion.kind,
            template,
            _variables(occasion, recipient=recipient, reply_to=reply_to, comment=comment),
        )
        earlier = _earlier_message_ids(session, ticket_id=ticket.id, to_address=recipient.email)
        session.add(
            OutboundMail(
                ticket_id=ticket.id,
                event_id=occasion.event_id,
                kind=occasion.kind,
                comment_id=comment["id"] if comment else None,
                recipient_id=recipient.id,
                to_address=recipient.email,
                from_address=addresses.from_header(settings, reply_to=reply_to),
                reply_to=reply_to,
                message_id=addresses.new_message_id(settings, ticket_id=ticket.id),
                in_reply_to=earlier[-1] if earlier else root,
                references=" ".join([root, *earlier]),
                auto_submitted=occasion.kind is MailKind.ACKNOWLEDGEMENT,
                subject=rendered.subject,
                body_text=rendered.text,
                body_html=rendered.html,
                status=MailStatus.PENDING,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
            )
        )
        # Written now: the next recipient's (and the next event's) thread reads it.
        session.flush()
    return len(recipients)
