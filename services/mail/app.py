"""The mail service: the SMTP receiver on MAIL_SMTP_HOST:MAIL_SMTP_PORT."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from services.mail.addresses import our_domains, support_addresses
from services.mail.receiver import MailHandler, smtp_server
from services.mail.writing import IntakeSettings
from shared.blob_store import BlobStore
from shared.celery_app import get_celery
from shared.publishing import OutboxPublisher
from shared.redis_client import get_redis
from shared.settings import Settings

logger = logging.getLogger(__name__)


def intake_settings(settings: Settings) -> IntakeSettings:
    """What the intake needs from the settings; a MAIL_ADDRESSES that is not a list of
    address=Category pairs stops the service with a message naming it."""
    try:
        addresses = support_addresses(settings.mail_addresses)
    except ValueError as exc:
        raise SystemExit(f"MAIL_ADDRESSES: {exc}") from None
    return IntakeSettings(
        addresses=addresses,
        our_domains=our_domains(
            addresses,
            mail_domain=settings.mail_domain,
            support_address=settings.mail_support_address,
        ),
        database_timeout=timedelta(seconds=settings.mail_database_timeout_seconds),
        store=BlobStore(settings.attachments_dir),
        max_message_bytes=settings.mail_max_message_bytes,
        trusted_authserv_ids=frozenset(
            name.strip().lower()
            for name in settings.mail_trusted_authserv_ids.split(",")
            if name.strip()
        ),
    )


async def serve(settings: Settings, *, stopping: asyncio.Event) -> None:
    """Take mail until `stopping` is set."""
    how = intake_settings(settings)
    if not how.addresses:
        logger.warning("MAIL_ADDRESSES is empty: every recipient is refused (550)")
    publisher = OutboxPublisher(redis=get_redis(), celery=get_celery(), settings=settings)
    handler = MailHandler(how, publish=publisher.publish_pending)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: smtp_server(
            handler,
            max_message_bytes=settings.mail_max_message_bytes,
            hostname=min(how.our_domains, default="localhost"),
        ),
        host=settings.mail_smtp_host,
        port=settings.mail_smtp_port,
    )
    logger.info(
        "mail service started on %s:%d for %s",
        settings.mail_smtp_host,
        settings.mail_smtp_port,
        ", ".join(sorted(how.addresses)) or "no address",
    )
    async with server:
        await stopping.wait()
    logger.info("mail service stopped")
