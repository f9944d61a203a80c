"""One HTTP attempt: sign, check where the URL points now, POST, read a little of the answer."""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import httpx

from services.notifier.retry import retry_after
from shared.clock import utcnow
from shared.webhook_security import UnsafeUrl, check_addresses, signature_header

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


async def _pinned_target(url: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """Resolve the host now, refuse forbidden addresses, and send to the address checked, so a
    DNS answer that changes between the check and the connection (rebinding) cannot win."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    check_addresses(host, addresses)
    address = addresses[0]
    literal = f"[{address}]" if ":" in address else address
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    pinned = urlunsplit(parts._replace(netloc=netloc))
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return pinned, {"host": parts.netloc.rpartition("@")[2]}, extensions


async def attempt_delivery(
    client: httpx.AsyncClient,
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
    headers = {
        "content-type": "application/json",
        # Only the start of the answer is kept: ask for it uncompressed, readable in the log.
        "accept-encoding": "identity",
        "user-agent": USER_AGENT,
        "webhook-id": job.event_id,
        "webhook-timestamp": str(int(attempted_at.timestamp())),
        "webhook-signature": signature_header(
            job.secrets, msg_id=job.event_id, at=attempted_at, body=job.payload
        ),
    }
    try:
        async with asyncio.timeout(timeout):
            url = job.url
            extensions: dict[str, str] = {}
            if not allow_private:
                url, host_header, extensions = await _pinned_target(job.url)
                headers.update(host_header)
            async with client.stream(
                "POST", url, content=job.payload.encode(), headers=headers, extensions=extensions
            ) as response:
                status_code = response.status_code
                received = bytearray()
                async for chunk in response.aiter_raw():
                    received.extend(chunk)
                    if len(received) >= body_limit:
                        break
                excerpt = _printable(bytes(received[:body_limit]).decode("utf-8", "replace"))
                if status_code in (429, 503):
                    requested = retry_after(response.headers.get("retry-after"), now=utcnow())
    except TimeoutError:
        error = f"no answer within {timeout:g}s"
    except UnsafeUrl as exc:
        error = f"refused: {exc.detail}"
    except (httpx.HTTPError, OSError) as exc:
        error = _printable(f"{type(exc).__name__}: {exc}"[:500])
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
