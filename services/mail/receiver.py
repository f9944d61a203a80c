"""The SMTP side: which recipients we take mail for, and the answer once it is taken in.

250 only after the message's ticket or reply is committed; 451 while the database cannot be
reached, so the sending server keeps the message and retries; 550 for an address we do not
serve; 552 (aiosmtpd, from SIZE) for a message over the limit."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import psycopg
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from services.mail import metrics
from services.mail.addresses import Recipient, recipient_for
from services.mail.writing import Intake, IntakeSettings, quarantine, take_in
from shared.models import MailOutcome

logger = logging.getLogger(__name__)

RETRY_LATER = "451 4.3.0 The helpdesk cannot take mail just now; please try again later"


# Of a message over the size limit, this much is kept with its quarantine record.
OVERSIZED_KEPT_BYTES = 256 * 1024


class MailHandler:
    """aiosmtpd's handler: RCPT checks the address, DATA takes the message in."""

    def __init__(self, how: IntakeSettings, *, publish: Callable[[], object] | None = None) -> None:
        self.how = how
        # After a commit that wrote events: publish them, as the API and the worker do. Off the
        # answer's path; if Redis is down they wait in the outbox for the relay sweep.
        self._publish = publish
        self._publishing: set[asyncio.Task[None]] = set()

    async def handle_RCPT(  # noqa: N802 (aiosmtpd's hook names)
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if recipient_for(address, configured=self.how.addresses) is None:
            return "550 5.1.1 No such support address here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        recipients = [
            found
            for address in envelope.rcpt_tos
            if (found := recipient_for(address, configured=self.how.addresses)) is not None
        ]
        if not recipients:
            return "554 5.5.1 No valid recipients"
        # One ticket per message, whatever number of our addresses it was sent to: the first.
        recipient = recipients[0]
        started = time.perf_counter()
        if len(raw) > self.how.max_message_bytes:
            reason = f"oversized: {len(raw)} bytes, over MAIL_MAX_MESSAGE_BYTES"
            raw = raw[:OVERSIZED_KEPT_BYTES]  # enough to see who sent what
        else:
            reason = ""
        try:
            if reason:
                intake = await asyncio.to_thread(self._quarantine, raw, reason)
                return self._answered(intake, started)
            intake = await asyncio.to_thread(
                self._take_in, raw, envelope.mail_from or "", recipient
            )
        except Exception as exc:
            if _database_unavailable(exc):
                logger.warning("database unavailable, answered 451: %s", exc)
                metrics.RETRIED.inc()
                return RETRY_LATER
            logger.exception("could not take a message in; quarantining it")
            try:
                intake = await asyncio.to_thread(self._quarantine, raw, f"intake failed: {exc!r}")
            except Exception:
                logger.exception("could not quarantine the message either; answered 451")
                metrics.RETRIED.inc()
                return RETRY_LATER
        return self._answered(intake, started)

    def _answered(self, intake: Intake, started: float) -> str:
        metrics.MESSAGES.labels(outcome=intake.outcome.value).inc()
        metrics.COMMIT_SECONDS.observe(time.perf_counter() - started)
        logger.info(
            "mail taken in",
            extra={
                "outcome": intake.outcome.value,
                "reason": intake.reason,
                "ticket_id": intake.ticket_id,
                "comment_id": intake.comment_id,
            },
        )
        if intake.outcome in (MailOutcome.TICKET_CREATED, MailOutcome.COMMENTED):
            self._publish_soon()
        return _answer(intake)

    def _publish_soon(self) -> None:
        if self._publish is None:
            return
        task = asyncio.create_task(asyncio.to_thread(self._publish_events))
        self._publishing.add(task)
        task.add_done_callback(self._publishing.discard)

    def _publish_events(self) -> None:
        assert self._publish is not None
        try:
            self._publish()
        except Exception as exc:  # Redis down: the outbox relay publishes them later
            logger.warning("events not published yet (the relay will): %s", exc)

    def _quarantine(self, raw: bytes, reason: str) -> Intake:
        return quarantine(raw, reason=reason, how=self.how)

    def _take_in(self, raw: bytes, envelope_sender: str, recipient: Recipient) -> Intake:
        return take_in(raw, envelope_sender=envelope_sender, recipient=recipient, how=self.how)


def _database_unavailable(exc: Exception) -> bool:
    """The database could not be reached or waited on (try later), rather than refusing what
    this message would write (a retry would fail the same way)."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout):
        return True
    # Prepared statements run on the driver's cursor (shared.prepared): its errors come unwrapped.
    if isinstance(
        exc, sqlite3.OperationalError | psycopg.OperationalError | psycopg.InterfaceError
    ):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def _answer(intake: Intake) -> str:
    if intake.outcome is MailOutcome.TICKET_CREATED:
        return f"250 2.0.0 OK: ticket {intake.ticket_id} opened"
    if intake.outcome is MailOutcome.COMMENTED:
        return f"250 2.0.0 OK: reply added to ticket {intake.ticket_id}"
    # Dropped, quarantined or seen before: accepted, so the sender does not retry it.
    return f"250 2.0.0 OK ({intake.outcome.value})"


def smtp_server(handler: MailHandler, *, max_message_bytes: int, hostname: str) -> SMTP:
    """SMTP takes up to twice MAIL_MAX_MESSAGE_BYTES (SIZE): what is over the setting is
    quarantined with the reason (admins see it), what is over twice it refused with 552."""
    kwargs: dict[str, Any] = {
        "data_size_limit": 2 * max_message_bytes,
        "hostname": hostname,
        "decode_data": False,
        "enable_SMTPUTF8": True,
    }
    return SMTP(handler, **kwargs)
