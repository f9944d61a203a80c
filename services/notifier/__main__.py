"""`python -m services.notifier`: run one notifier until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

from services.notifier.app import Notifier
from shared.settings import get_settings


async def _main() -> None:
    notifier = Notifier(get_settings())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, notifier.stop)
    await notifier.run()


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(_main())
