"""How an ASGI app is served in production: one place, so a benchmark's baseline app is served
exactly like the API."""

from __future__ import annotations

import gc
import importlib
import logging
import sys

import uvicorn
from uvicorn.config import STARTUP_FAILURE

from services.api.prefork import Supervisor, listening_sockets
from shared.logging_setup import configure_logging
from shared.settings import Settings

logger = logging.getLogger(__name__)

# Young objects collected every 20,000 allocations rather than 700: a request allocates
# thousands (ORM rows, pydantic models), and each collection walks every young survivor.
_GC_YOUNGEST_THRESHOLD = 20_000


def serve_app(app_path: str, *, settings: Settings, host: str, port: int, workers: int = 1) -> None:
    """Serve `app_path` ("module:attribute") on host:port from `workers` processes; with one,
    in this process (no parent), as plain uvicorn does."""
    configure_logging(settings)
    config = uvicorn.Config(
        app_path,
        host=host,
        port=port,
        # Without a trusted proxy, X-Forwarded-* is ignored (and not even parsed).
        proxy_headers=bool(settings.forwarded_allow_ips.strip()),
        forwarded_allow_ips=settings.forwarded_allow_ips,
        # Ours, not uvicorn's: its access and error lines go out in LOG_FORMAT, at LOG_LEVEL.
        log_config=None,
        log_level=None,
        # asyncio's loop, not uvloop: the hot requests run start to finish without awaiting
        # anything (SQLite inline, rate limits counted in the process), and uvloop then served
        # some connections late: 64 connections of GET /tickets/{id} had a p99 of 0.6-1.2 s
        # for a p50 of 35 ms on uvloop, 50-70 ms on asyncio, at 5-10 % less throughput.
        loop="asyncio",
    )
    # Import the app before serving, then move everything that exists by now (modules,
    # classes, the app) out of the collector's sight: full collections then walk only what
    # requests allocate. Measured on GET /tickets/{id}: about a third less CPU per request.
    # Before any fork, so that the workers share these pages.
    importlib.import_module(app_path.partition(":")[0])
    config.load()
    gc.collect()
    gc.freeze()
    gc.set_threshold(_GC_YOUNGEST_THRESHOLD, 50, 100)
    if workers == 1:
        server = uvicorn.Server(config)
        try:
            server.run()
        except KeyboardInterrupt:
            pass  # uvicorn raises the SIGINT it shut down for again, once it is done
        if not server.started:
            sys.exit(STARTUP_FAILURE)
        return
    try:
        sockets = listening_sockets(host, port, backlog=config.backlog)
    except OSError as exc:
        logger.error("cannot listen on %s:%d: %s", host, port, exc)
        sys.exit(STARTUP_FAILURE)
    sys.exit(Supervisor(config, sockets, workers=workers).run())
