"""The mail service as a real process on a free port, against the test session's database."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.support.processes import BIN, free_port
from tests.support.system import ServiceProcess

ADDRESSES = "help@support.example=General Support,billing@support.example=Billing & Payments"
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
# The relay in front of the service whose Authentication-Results it believes.
TRUSTED_RELAY = "mx.support.example"


@dataclass
class MailService:
    process: ServiceProcess
    port: int
    attachments: Path

    def send(self, message: EmailMessage | bytes, *, to: list[str] | None = None) -> None:
        """Deliver over SMTP; smtplib raises on any answer but 250."""
        with smtplib.SMTP("127.0.0.1", self.port, timeout=60) as smtp:
            if isinstance(message, EmailMessage):
                smtp.send_message(message, to_addrs=to)
            else:
                smtp.sendmail("sender@example.org", to or ["help@support.example"], message)


def mail_service(
    directory: Path, database_url: str, *, extra: dict[str, str] | None = None
) -> MailService:
    port = free_port()
    env = {
        "DATABASE_URL": database_url,
        "MAIL_ADDRESSES": ADDRESSES,
        "MAIL_SMTP_PORT": str(port),
        "MAIL_METRICS_PORT": "0",
        "MAIL_MAX_MESSAGE_BYTES": str(MAX_MESSAGE_BYTES),
        "ATTACHMENTS_DIR": str(directory / "attachments"),
        "MAIL_TRUSTED_AUTHSERV_IDS": TRUSTED_RELAY,
        **(extra or {}),
    }
    process = ServiceProcess(
        "mail",
        [str(BIN / "python"), "-m", "services.mail"],
        env=env,
        directory=directory,
        ready_text="mail service started",
    )
    process.start()
    return MailService(process, port, directory / "attachments")


@pytest.fixture(scope="session")
def mail(seeded_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailService]:
    service = mail_service(tmp_path_factory.mktemp("mail"), seeded_database)
    yield service
    service.process.stop()
