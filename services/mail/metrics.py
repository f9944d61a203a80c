"""The mail service's Prometheus metrics, served on MAIL_METRICS_PORT (one process: in memory)."""

from __future__ import annotations

import logging

from prometheus_client import Counter, Histogram, disable_created_metrics, start_http_server

from shared.settings import Settings

logger = logging.getLogger(__name__)

disable_created_metrics()  # type: ignore[no-untyped-call]

MESSAGES = Counter(
    "ticketing_mail_messages",
    "Messages taken in, by outcome: ticket_created, commented, dropped, quarantined or "
    "duplicate (delivered again).",
    ["outcome"],
)
RETRIED = Counter(
    "ticketing_mail_retry_later",
    "Messages answered 451 (database unavailable): the sending server keeps them and retries.",
)
COMMIT_SECONDS = Histogram(
    "ticketing_mail_commit_seconds",
    "From the end of DATA to the committed ticket or reply (the 250).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


def serve(settings: Settings) -> None:
    """Serve /metrics from a background thread, unless MAIL_METRICS_PORT is 0."""
    host, port = settings.metrics_host, settings.mail_metrics_port
    if not port:
        return
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        logger.error("mail metrics not served on %s:%d: %s", host, port, exc)
        return
    logger.info("mail metrics on http://%s:%d/metrics", host, port)
