"""`python -m services.mail`: run the SMTP receiver until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import signal

from services.mail import metrics
from services.mail.app import serve
from shared.logging_setup import configure_logging
from shared.settings import get_settings


async def _main() -> None:
    settings = get_settings()
    metrics.serve(settings)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await serve(settings, stopping=stopping)


if __name__ == "__main__":
    configure_logging(get_settings())
    asyncio.run(_main())
