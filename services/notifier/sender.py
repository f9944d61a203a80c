"""One HTTP attempt: sign, check where the URL points now, POST, read a little of the answer."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

import httptools
import httpx

from services.notifier.connections import ConnectionPool, Origin
from services.notifier.retry import retry_after
from shared.clock import utcnow
from shared.webhook_security import (
    UnsafeUrl,
    WebhookTarget,
    check_addresses,
    parse_webhook_url,
    resolve,
    signature_header,
)

logger = logging.getLogger(__name__)

USER_AGENT = "Ticketing-Webhooks/0.1 (+https://github.com/ticketing)"


@dataclass(frozen=True)
class DeliveryJob:
    delivery_id: int
    endpoint_id: int
    url: str
    secrets: list[str]
    event_id: str
    payload: str
    attempt_number: int
    # The event's timestamp, when already read from the payload (for the latency metric).
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class AttemptOutcome:
    job: DeliveryJob
    attempted_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None
    response_body: str | None
    requested_delay: timedelta | None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _printable(text: str) -> str | None:
    """Text any database stores: PostgreSQL refuses NUL characters."""
    return text.replace("\x00", "\ufffd") or None


@dataclass(frozen=True)
class _Destination:
    """A webhook URL taken apart once: where to connect, and what to ask for."""

    scheme: str
    host: str
    port: int
    target: str  # path and query
    host_header: str


@lru_cache(maxsize=4096)
def _destination(url: str) -> _Destination:
    """The URL checked as at registration (a row stored before those checks may hold one
    they refuse), then httpx's reading of it (IDNA host, percent-encoded path)."""
    checked = parse_webhook_url(url)
    parsed = httpx.URL(url)
    return _Destination(
        scheme=checked.scheme,
        host=checked.host,
        port=checked.port,
        target=parsed.raw_path.decode("ascii"),
        host_header=parsed.netloc.decode("ascii"),
    )


async def _checked_address(destination: _Destination) -> str:
    """Resolve the host now, refuse addresses that are not public, and return the address
    checked: the connection goes there, so a DNS answer that changes between the check and
    the connection (rebinding) cannot win."""
    target = WebhookTarget(destination.scheme, destination.host, destination.port)
    addresses = await resolve(target)
    check_addresses(destination.host, addresses)
    return addresses[0]


async def attempt_delivery(
    connections: ConnectionPool,
    job: DeliveryJob,
    *,
    timeout: float,
    allow_private: bool,
    body_limit: int,
) -> AttemptOutcome:
    attempted_at = utcnow()
    started = time.monotonic()
    status_code: int | None = None
    error: str | None = None
    excerpt: str | None = None
    requested: timedelta | None = None
    # Everything from here on is inside the try: whatever fails, the attempt ends as a failed
    # one that is recorded and retried, never an exception that leaves its delivery claimed.
    try:
        body = job.payload.encode()
        signature = signature_header(
            job.secrets, msg_id=job.event_id, at=attempted_at, body=job.payload
        )
        destination = _destination(job.url)
        headers = [
            ("host", destination.host_header),
            ("content-type", "application/json"),
            # Only the start of the answer is kept: ask for it uncompressed, readable in the log.
            ("accept-encoding", "identity"),
            ("user-agent", USER_AGENT),
            ("webhook-id", job.event_id),
            ("webhook-timestamp", str(int(attempted_at.timestamp()))),
            ("webhook-signature", signature),
        ]
        async with asyncio.timeout(timeout):
            address = destination.host
            if not allow_private:
                address = await _checked_address(destination)
            origin = Origin(destination.scheme, destination.host, address, destination.port)
            answer = await connections.post(
                origin,
                target=destination.target,
                headers=headers,
                body=body,
                body_limit=body_limit,
            )
        status_code = answer.status_code
        excerpt = _printable(answer.body.decode("utf-8", "replace"))
        if status_code in (429, 503):
            requested = retry_after(answer.headers.get("retry-after"), now=utcnow())
    except TimeoutError:
        error = f"no answer within {timeout:g}s"
    except UnsafeUrl as exc:
        error = f"refused: {exc.detail}"
    except (httptools.HttpParserError, httpx.InvalidURL, OSError, ValueError) as exc:
        error = _printable(f"{type(exc).__name__}: {exc}"[:500])
    except Exception as exc:
        # A bug of ours, not the receiver's doing: the attempt still ends (and is retried on
        # schedule) rather than leaving its delivery claimed and never recorded.
        logger.exception("delivery %d: the attempt failed unexpectedly", job.delivery_id)
        error = _printable(f"internal error: {type(exc).__name__}: {exc}"[:500])
    if status_code is not None and not 200 <= status_code < 300 and error is None:
        error = f"HTTP {status_code}" + (
            " (redirects are not followed)" if status_code < 400 else ""
        )
    return AttemptOutcome(
        job=job,
        attempted_at=attempted_at,
        duration_ms=int((time.monotonic() - started) * 1000),
        status_code=status_code,
        error=error,
        response_body=excerpt,
        requested_delay=requested,
    )
