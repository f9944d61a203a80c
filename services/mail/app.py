"""The mail service: the SMTP receiver on MAIL_SMTP_HOST:MAIL_SMTP_PORT."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from services.mail.receiver import MailHandler, smtp_server
from services.mail.writing import IntakeSettings
from shared.blob_store import BlobStore
from shared.celery_app import get_celery
from shared.publishing import OutboxPublisher
from shared.redis_client import get_redis
from shared.settings import Settings

logger = logging.getLogger(__name__)


def intake_settings(settings: Settings) -> IntakeSettings:
    return IntakeSettings(
        addresses=settings.mail_addresses,
        message_id_domain=settings.mail_message_id_domain,
        database_timeout=timedelta(seconds=settings.mail_database_timeout_seconds),
        store=BlobStore(settings.attachments_dir),
    )


async def serve(settings: Settings, *, stopping: asyncio.Event) -> None:
    """Take mail until `stopping` is set."""
    if not settings.mail_addresses:
        logger.warning("MAIL_ADDRESSES is empty: every recipient is refused (550)")
    publisher = OutboxPublisher(redis=get_redis(), celery=get_celery(), settings=settings)
    handler = MailHandler(intake_settings(settings), publish=publisher.publish_pending)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: smtp_server(
            handler,
            max_message_bytes=settings.mail_max_message_bytes,
            hostname=settings.mail_message_id_domain,
        ),
        host=settings.mail_smtp_host,
        port=settings.mail_smtp_port,
    )
    logger.info(
        "mail service started on %s:%d for %s",
        settings.mail_smtp_host,
        settings.mail_smtp_port,
        ", ".join(sorted(settings.mail_addresses)) or "no address",
    )
    async with server:
        await stopping.wait()
    logger.info("mail service stopped")
