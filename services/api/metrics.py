"""The API's Prometheus metrics: requests by route, their latency, and the outbox backlog.

Each API process keeps its own numbers in its own registry. `/metrics` is on the API's public
port, so it answers only an admin's API key or METRICS_TOKEN (what a Prometheus scrape sends).
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Header
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.auth.keys import authenticate
from shared.clock import utcnow
from shared.errors import Forbidden
from shared.models import Role
from shared.publishing import outbox_backlog
from shared.settings import get_settings
from shared.unit_of_work import read_session

logger = logging.getLogger(__name__)

UNMATCHED = "unmatched"
# Any other method string a client makes up is counted as "other": labels stay bounded.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# A `_created` twin of every counter and histogram doubles the series for no question we ask.
disable_created_metrics()  # type: ignore[no-untyped-call]

registry = CollectorRegistry()
ProcessCollector(registry=registry)
PlatformCollector(registry=registry)
GCCollector(registry=registry)

write_batch_requests = Histogram(
    "ticketing_write_batch_requests",
    "Requests committed together in one write transaction (group commit).",
    buckets=(1, 2, 4, 8, 16, 32, 64),
    registry=registry,
)
requests_total = Counter(
    "ticketing_http_requests",
    "HTTP requests answered, by route template, method and status code.",
    ["route", "method", "status"],
    registry=registry,
)
request_duration = Histogram(
    "ticketing_http_request_duration_seconds",
    "Time from the request's arrival to the end of its response, by route template and method.",
    ["route", "method"],
    registry=registry,
)


class OutboxBacklog:
    """Read at scrape time: events committed and not yet on the stream, and how long the
    oldest of them has waited (0 when none wait)."""

    def collect(self) -> Iterator[Metric]:
        try:
            backlog = outbox_backlog()
        except Exception as exc:  # no database: /ready says so; the scrape still answers
            logger.warning("outbox backlog not collected: %s", exc)
            return
        oldest = backlog.oldest_created_at
        age = (utcnow() - oldest).total_seconds() if oldest else 0.0
        yield GaugeMetricFamily(
            "ticketing_outbox_unpublished_events",
            "Outbox events committed but not yet published to the stream and the worker.",
            value=backlog.unpublished,
        )
        yield GaugeMetricFamily(
            "ticketing_outbox_oldest_unpublished_age_seconds",
            "Age of the oldest unpublished outbox event (0 when there is none).",
            value=max(age, 0.0),
        )


registry.register(OutboxBacklog())


def route_template(scope: Scope) -> str:
    """The matched route's path template (`/tickets/{ticket_ref}`): raw paths carry ids, and
    a label per id would grow without bound."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else UNMATCHED


class RequestMetrics:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts: an exception escaped everything

        async def noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, noting_status)
        finally:
            method = scope.get("method", "")
            route, method = route_template(scope), method if method in _METHODS else "other"
            requests_total.labels(route, method, str(status)).inc()
            request_duration.labels(route, method).observe(time.perf_counter() - started)


router = APIRouter()


async def _metrics_reader(
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> None:
    """Let in the metrics token (no database needed: a scrape still answers without one) or
    an admin's API key; 401 for anything else, 403 for another role's key."""
    token = get_settings().metrics_token.get_secret_value()
    if token and authorization:
        scheme, _, offered = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            offered.strip().encode(), token.encode()
        ):
            return
    async with read_session() as session:
        if authenticate(session, authorization=authorization).role is not Role.ADMIN:
            raise Forbidden("only an admin's API key or METRICS_TOKEN reads /metrics")


@router.get("/metrics", include_in_schema=False, dependencies=[Depends(_metrics_reader)])
def metrics() -> Response:
    """Prometheus metrics, text format."""
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
