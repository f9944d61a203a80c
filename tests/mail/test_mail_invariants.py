"""What the sending server is promised: a 250 means committed, even if we die right after;
a 451 while the database is unavailable, and the retry then works."""

from __future__ import annotations

import smtplib
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.models import MailMessage, MailOutcome, Ticket
from tests.mail import corpus
from tests.mail.conftest import mail_service
from tests.mail.test_mail_in import bare, stranger
from tests.support.databases import tickets_write_lock


def test_a_message_answered_250_survives_a_kill_9(
    seeded_database: str, tmp_path: Path, db: Session
) -> None:
    service = mail_service(tmp_path, seeded_database)
    message = corpus.plain(sender=stranger(), subject="Survives the crash")
    try:
        with smtplib.SMTP("127.0.0.1", service.port, timeout=60) as smtp:
            smtp.send_message(message)
            service.process.kill()  # SIGKILL the moment the 250 is in
    except smtplib.SMTPServerDisconnected:
        pass  # our QUIT met a dead server: the message itself was answered 250
    finally:
        service.process.stop()
    record = db.scalars(
        select(MailMessage).where(MailMessage.message_id == bare(str(message["Message-ID"])))
    ).one()
    assert record.outcome is MailOutcome.TICKET_CREATED
    ticket = db.get(Ticket, record.ticket_id)
    assert ticket is not None
    assert ticket.title == "Survives the crash"


def test_database_unavailable_is_451_and_the_retry_is_taken_in(
    seeded_database: str, tmp_path: Path, db: Session
) -> None:
    service = mail_service(
        tmp_path,
        seeded_database,
        extra={"SQLITE_BUSY_TIMEOUT_MS": "300", "MAIL_DATABASE_TIMEOUT_SECONDS": "0.3"},
    )
    message = corpus.plain(sender=stranger(), subject="Sent while the database is locked")
    try:
        with tickets_write_lock(seeded_database):
            with pytest.raises(smtplib.SMTPDataError) as refused:
                service.send(message)
            assert refused.value.smtp_code == 451
        db.expire_all()
        found = select(MailMessage).where(
            MailMessage.message_id == bare(str(message["Message-ID"]))
        )
        assert db.scalars(found).first() is None
        service.send(message)  # the sending server's retry
    finally:
        service.process.stop()
    record = db.scalars(found).one()
    assert record.outcome is MailOutcome.TICKET_CREATED
    assert db.get(Ticket, record.ticket_id) is not None
