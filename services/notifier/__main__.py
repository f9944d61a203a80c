"""`python -m services.notifier`: run one notifier until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import signal

from services.notifier import metrics
from services.notifier.app import Notifier
from shared.logging_setup import configure_logging
from shared.settings import get_settings


async def _main() -> None:
    metrics.serve(get_settings())
    notifier = Notifier(get_settings())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, notifier.stop)
    await notifier.run()


if __name__ == "__main__":
    configure_logging(get_settings())
    asyncio.run(_main())
