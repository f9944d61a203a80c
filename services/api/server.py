"""How an ASGI app is served in production: one place, so a benchmark's baseline app is served
exactly like the API."""

from __future__ import annotations

import uvicorn

from shared.logging_setup import configure_logging
from shared.settings import Settings


def serve_app(app_path: str, *, settings: Settings, host: str, port: int) -> None:
    configure_logging(settings)
    uvicorn.run(
        app_path,
        host=host,
        port=port,
        proxy_headers=True,
        # Ours, not uvicorn's: its access and error lines go out in LOG_FORMAT, at LOG_LEVEL.
        log_config=None,
        log_level=None,
    )
