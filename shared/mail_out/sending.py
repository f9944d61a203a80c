"""Sending the recorded mail over SMTP (aiosmtplib): claim what is due with a lease, send it,
store every attempt.

A permanent refusal (5xx) fails the message at once; a temporary one (4xx) or no server to talk
to is tried again on MAIL_RETRY_SCHEDULE_SECONDS, and fails after the last delay. A worker that
dies while sending holds its messages only until the lease lapses.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

import aiosmtplib
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from shared.clock import utcnow
from shared.models import MailStatus, OutboundMail, OutboundMailAttempt
from shared.settings import Settings
from shared.unit_of_work import transaction

_JITTER = 0.2
# An SMTP reply is short; a misbehaving server's is not stored whole.
_REPLY_CHARS = 1000


@dataclass(frozen=True)
class MailJob:
    """A claimed message, as its row holds it."""

    id: int
    attempts: int
    to_address: str
    from_address: str
    reply_to: str
    message_id: str
    in_reply_to: str | None
    references: str
    auto_submitted: bool
    subject: str
    body_text: str
    body_html: str
    created_at: datetime


@dataclass(frozen=True)
class Attempt:
    job: MailJob
    attempted_at: datetime
    smtp_code: int | None
    reply: str
    duration_ms: int
    # The message itself is at fault (it cannot be written as mail): trying again won't help.
    unsendable: bool = False

    @property
    def sent(self) -> bool:
        return self.smtp_code is not None and 200 <= self.smtp_code < 300

    @property
    def permanent(self) -> bool:
        """A refusal sending again would not change."""
        return self.unsendable or (self.smtp_code is not None and self.smtp_code >= 500)


@dataclass
class SendReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


def retry_at(
    *,
    attempts_made: int,
    schedule: Sequence[float],
    now: datetime,
    rng: random.Random | None = None,
) -> datetime | None:
    """When to try again after `attempts_made` failed attempts; None when the schedule is used
    up."""
    if attempts_made > len(schedule):
        return None
    delay = schedule[attempts_made - 1] * (rng or random).uniform(1 - _JITTER, 1 + _JITTER)
    return now + timedelta(seconds=delay)


def build_message(job: MailJob) -> EmailMessage:
    """The message as sent: plain text with an HTML alternative, threading headers set."""
    message = EmailMessage()
    message["From"] = job.from_address
    message["To"] = job.to_address
    message["Reply-To"] = job.reply_to
    message["Subject"] = job.subject
    message["Date"] = format_datetime(job.created_at)
    message["Message-ID"] = job.message_id
    if job.in_reply_to:
        message["In-Reply-To"] = job.in_reply_to
    if job.references:
        message["References"] = job.references
    if job.auto_submitted:
        # An acknowledgement: other robots (auto-responders, ticket systems) must not answer it.
        message["Auto-Submitted"] = "auto-replied"
        message["X-Auto-Response-Suppress"] = "All"
    message.set_content(job.body_text)
    message.add_alternative(job.body_html, subtype="html")
    return message


def _due(now: datetime) -> list[ColumnElement[bool]]:
    free = or_(OutboundMail.claimed_until.is_(None), OutboundMail.claimed_until < now)
    return [OutboundMail.status == MailStatus.PENDING, OutboundMail.next_attempt_at <= now, free]


def claim_due(session: Session, *, now: datetime, lease: timedelta, limit: int) -> list[MailJob]:
    """Pending messages whose time has come that nobody holds, claimed for the caller."""
    conditions = _due(now)
    ids = list(
        session.scalars(
            select(OutboundMail.id)
            .where(*conditions)
            .order_by(OutboundMail.next_attempt_at, OutboundMail.id)
            .limit(limit)
        )
    )
    if not ids:
        return []
    won = set(
        session.scalars(
            update(OutboundMail)
            .where(OutboundMail.id.in_(ids), *conditions)
            .values(claimed_until=now + lease)
            .returning(OutboundMail.id)
            .execution_options(synchronize_session=False)
        )
    )
    rows = session.execute(
        select(
            OutboundMail.id,
            OutboundMail.attempts,
            OutboundMail.to_address,
            OutboundMail.from_address,
            OutboundMail.reply_to,
            OutboundMail.message_id,
            OutboundMail.in_reply_to,
            OutboundMail.references,
            OutboundMail.auto_submitted,
            OutboundMail.subject,
            OutboundMail.body_text,
            OutboundMail.body_html,
            OutboundMail.created_at,
        )
        .where(OutboundMail.id.in_(won))
        .order_by(OutboundMail.id)
    ).all()
    return [MailJob(**row._asdict()) for row in rows]


async def _send_one(job: MailJob, settings: Settings) -> Attempt:
    started = time.monotonic()
    attempted_at = utcnow()
    code: int | None
    try:
        message = build_message(job)
    except (ValueError, TypeError) as exc:
        return Attempt(
            job=job,
            attempted_at=attempted_at,
            smtp_code=None,
            reply=f"the message cannot be written as mail: {exc}"[:_REPLY_CHARS],
            duration_ms=0,
            unsendable=True,
        )
    try:
        _refused, reply = await aiosmtplib.send(
            message,
            sender=envelope_sender(settings),
            recipients=[job.to_address],
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username or None,
            password=settings.smtp_password.get_secret_value() or None,
            use_tls=settings.smtp_security == "tls",
            start_tls=settings.smtp_security == "starttls",
            timeout=settings.smtp_timeout_seconds,
        )
        code, text = _parse_reply(reply)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        first = exc.recipients[0]
        code, text = first.code, f"{first.code} {first.message}"
    except aiosmtplib.SMTPResponseException as exc:
        code, text = exc.code, f"{exc.code} {exc.message}"
    except (aiosmtplib.SMTPException, OSError) as exc:
        # No server to talk to, or it went away: a temporary failure.
        code, text = None, f"{type(exc).__name__}: {exc}"
    return Attempt(
        job=job,
        attempted_at=attempted_at,
        smtp_code=code,
        reply=text[:_REPLY_CHARS],
        duration_ms=int((time.monotonic() - started) * 1000),
    )


def _parse_reply(reply: str) -> tuple[int, str]:
    """aiosmtplib's success reply ("250 2.0.0 Ok" or only the text after the code)."""
    head = reply.split(" ", 1)[0]
    if head.isdigit():
        return int(head), reply
    return 250, f"250 {reply}"


async def _send_all(jobs: list[MailJob], settings: Settings, *, deadline: float) -> list[Attempt]:
    """One after another, starting none after `deadline` (monotonic): the rest stay claimed
    until the lease lapses and are sent then, never by two senders at once."""
    attempts: list[Attempt] = []
    for job in jobs:
        if time.monotonic() >= deadline:
            break
        attempts.append(await _send_one(job, settings))
    return attempts


def record_attempts(
    session: Session, attempts: Sequence[Attempt], *, settings: Settings, now: datetime
) -> SendReport:
    """Store each attempt and what it made of its message: sent, to try again, or failed."""
    report = SendReport()
    for attempt in attempts:
        made = attempt.job.attempts + 1
        values: dict[str, object] = {
            "attempts": made,
            "last_reply": attempt.reply,
            "claimed_until": None,
            "updated_at": now,
        }
        next_at = None
        if attempt.sent:
            values.update(
                status=MailStatus.SENT, sent_at=attempt.attempted_at, next_attempt_at=None
            )
            report.sent += 1
        elif attempt.permanent:
            values.update(status=MailStatus.FAILED, next_attempt_at=None)
            report.failed += 1
        else:
            next_at = retry_at(
                attempts_made=made, schedule=settings.mail_retry_schedule_seconds, now=now
            )
            if next_at is None:
                values.update(status=MailStatus.FAILED, next_attempt_at=None)
                report.failed += 1
            else:
                values.update(next_attempt_at=next_at)
                report.retrying += 1
        session.execute(
            update(OutboundMail)
            .where(OutboundMail.id == attempt.job.id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        session.add(
            OutboundMailAttempt(
                mail_id=attempt.job.id,
                attempt_number=made,
                attempted_at=attempt.attempted_at,
                smtp_code=attempt.smtp_code,
                reply=attempt.reply,
                duration_ms=attempt.duration_ms,
                next_retry_at=next_at,
            )
        )
    return report


def envelope_sender(settings: Settings) -> str:
    """MAIL FROM: bounces go to the support address itself, not to a ticket's reply address."""
    return settings.mail_support_address


def send_due_mail(settings: Settings, *, batch: int = 50, max_batches: int = 20) -> SendReport:
    """Send what is due, a batch at a time (a claim per batch, the outcomes in one transaction
    each); stops when nothing is left or after `max_batches` (beat comes back)."""
    total = SendReport()
    lease = timedelta(seconds=settings.mail_lease_seconds)
    for _ in range(max_batches):
        with transaction() as session:
            jobs = claim_due(session, now=utcnow(), lease=lease, limit=batch)
        if not jobs:
            break
        # Half the lease for starting sends: one started just before then still ends (each SMTP
        # step is bounded by SMTP_TIMEOUT_SECONDS) before another sender may claim the rest.
        deadline = time.monotonic() + lease.total_seconds() / 2
        attempts = asyncio.run(_send_all(jobs, settings, deadline=deadline))
        with transaction() as session:
            report = record_attempts(session, attempts, settings=settings, now=utcnow())
        total.sent += report.sent
        total.retrying += report.retrying
        total.failed += report.failed
        if len(jobs) < batch or len(attempts) < len(jobs):
            break
    return total
