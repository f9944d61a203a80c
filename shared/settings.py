"""Process settings, read once from the environment (and an optional `.env`)."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from functools import lru_cache
from typing import Annotated, Literal

from limits import parse as parse_rate_limit
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# How long the worker and the notifier keep their records of the events they handled: the
# reconciler's window must end a day short of it.
CONSUMER_RECORDS_KEPT = timedelta(days=7)

_MIN_METRICS_TOKEN_LENGTH = 32


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity, where the platform tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class Settings(BaseSettings):
    """Every setting the services read. Environment names are the field names in upper case."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./data/tickets.db"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    # Processes `ticketing serve` answers the port from; 1 runs a single process, no parent.
    api_workers: int = Field(default_factory=available_cores, ge=1)
    # Proxies whose X-Forwarded-For and X-Forwarded-Proto uvicorn believes: addresses or
    # networks, comma-separated ("*": any peer). Empty: nobody's, so a client cannot choose the
    # address its rate limit is counted by; behind a proxy, list the proxy.
    forwarded_allow_ips: str = ""
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    redis_url: str = "redis://127.0.0.1:6379/0"

    # "json": one JSON object a line, for a log collector; "text": lines for people.
    log_format: Literal["text", "json"] = "text"
    log_level: str = "INFO"
    # Prometheus endpoints of the worker and the notifier (the API serves /metrics); 0 = off.
    worker_metrics_port: int = Field(default=9101, ge=0, le=65535)
    notifier_metrics_port: int = Field(default=9102, ge=0, le=65535)
    # Where those two listen; in a container, 0.0.0.0 lets the scraper in.
    metrics_host: str = "127.0.0.1"

    # SQLite waits this long for another writer's lock before giving up.
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)
    # Requests with a larger body are refused with 413 before any parsing.
    max_request_body_bytes: int = Field(default=1_048_576, ge=1024)
    # How long a stored Idempotency-Key answer is replayed.
    idempotency_ttl_hours: int = Field(default=24, ge=1)

    # The event stream every outbox event is appended to, trimmed to about this many entries.
    event_stream: str = "events"
    event_stream_maxlen: int = Field(default=100_000, ge=1000)
    # Redis calls fail fast: the API must keep taking tickets while Redis is away.
    redis_timeout_seconds: float = Field(default=1.0, gt=0)
    # The relay publishes outbox rows left unpublished for this long (a crash, Redis down).
    outbox_relay_interval_seconds: float = Field(default=5.0, gt=0)
    outbox_relay_min_age_seconds: float = Field(default=3.0, ge=0)
    # A trigger's change is an event that may fire triggers in turn; the chain stops at this
    # depth (two triggers undoing each other would otherwise run forever).
    trigger_depth_cap: int = Field(default=5, ge=1, le=50)
    # Redis is the broker, not the store of record: an event published this long ago that a
    # consumer has not recorded as handled (the worker's processed_events, the notifier's
    # notified_events) is published again to that consumer; at once when Redis restarted or
    # failed over since. Only events of the window are looked at; it stays within the week
    # the consumers keep their records.
    outbox_reconcile_interval_seconds: float = Field(default=30.0, gt=0)
    outbox_reconcile_grace_seconds: float = Field(default=300.0, gt=0)
    outbox_reconcile_window_hours: float = Field(
        default=24.0, gt=0, le=CONSUMER_RECORDS_KEPT / timedelta(hours=1) - 24
    )

    # A task not acknowledged within this time goes back to the queue: longer than any task.
    celery_visibility_timeout_seconds: int = Field(default=600, ge=5)
    sla_scan_interval_seconds: float = Field(default=30.0, gt=0)
    # How often beat runs the automations, and how many tickets each acts on per run at most
    # (the rest wait for the next run, so one run never holds the worker long).
    automation_scan_interval_seconds: float = Field(default=300.0, gt=0)
    automation_scan_limit: int = Field(default=500, ge=1, le=100_000)
    stats_refresh_interval_seconds: float = Field(default=60.0, gt=0)
    # First-response target of a priority level that does not set its own.
    default_first_response_hours: float = Field(default=4.0, gt=0)

    # Webhooks. Delays between attempts (about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h), each
    # with +-20 % jitter; after the last one the delivery has failed for good.
    webhook_retry_schedule_seconds: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]
    )
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    # An endpoint failing every attempt for this long is disabled.
    webhook_disable_after_hours: float = Field(default=120.0, gt=0)
    # Tests and the local demo deliver to loopback receivers; production refuses them.
    webhook_allow_private_urls: bool = False
    # Registering a webhook resolves its host (before the write transaction) within this time;
    # a slower DNS answer is a 503 to try again, not a wait that holds up the request.
    webhook_dns_timeout_seconds: float = Field(default=2.0, gt=0)
    webhook_response_body_bytes: int = Field(default=2048, ge=0)
    webhook_endpoint_concurrency: int = Field(default=8, ge=1)
    webhook_max_in_flight: int = Field(default=256, ge=1)
    # A notifier's claim on a delivery (or a stream entry) lapses after this long: a crashed
    # replica's work is taken over by a live one.
    notifier_lease_seconds: float = Field(default=60.0, gt=0)
    notifier_reclaim_idle_seconds: float = Field(default=60.0, gt=0)
    notifier_poll_seconds: float = Field(default=0.5, gt=0)
    notifier_group: str = "notifier"

    # Rate limits ("limits" syntax: "600/minute", "10/second"), counted in Redis per user (all
    # of a user's keys together) by role, and per client address at the anonymous rate for
    # requests without a key known to be valid. 401s from one address count against
    # RATE_LIMIT_FAILED_AUTH: past it the address gets 429 (keys that authenticated recently
    # still pass). Without Redis nothing is limited.
    rate_limit_enabled: bool = True
    rate_limit_customer: str = "300/minute"
    rate_limit_agent: str = "1200/minute"
    rate_limit_admin: str = "1200/minute"
    rate_limit_anonymous: str = "60/minute"
    rate_limit_failed_auth: str = "10/minute"
    # A slow Redis must not slow every request: give up after this, and leave Redis alone for
    # the pause before trying again.
    rate_limit_redis_timeout_seconds: float = Field(default=0.25, gt=0)
    rate_limit_pause_after_failure_seconds: float = Field(default=2.0, ge=0)
    # Behind a TLS-terminating proxy: send Strict-Transport-Security with this max-age; 0 = off.
    hsts_max_age_seconds: int = Field(default=0, ge=0)
    # The API's /metrics answers an admin's API key, or this token as "Authorization: Bearer"
    # (what a Prometheus scrape sends); empty: admins' keys only. /metrics is never
    # rate-limited, so a token must be long enough not to be guessed.
    metrics_token: SecretStr = SecretStr("")
    # Attachments and original mail messages, stored under the SHA-256 of their bytes.
    attachments_dir: str = "./data/attachments"
    # Per file (413 above it), per ticket and per upload request (422 above them).
    attachment_max_bytes: int = Field(default=25 * 1024 * 1024, ge=1)
    attachment_max_files_per_ticket: int = Field(default=100, ge=1)
    attachment_max_files_per_upload: int = Field(default=10, ge=1)
    # Mail in (services/mail), the SMTP receiver for the support addresses of MAIL_ADDRESSES
    # (below, with mail out's settings).
    mail_smtp_host: str = "127.0.0.1"
    mail_smtp_port: int = Field(default=2525, ge=1, le=65535)
    # Larger mail is quarantined with the reason; over twice this (SMTP SIZE), refused with 552.
    mail_max_message_bytes: int = Field(default=26_214_400, ge=1024)
    mail_metrics_port: int = Field(default=9103, ge=0, le=65535)
    # Longer than this waiting for the database, and the sender is told 451 (try again later).
    mail_database_timeout_seconds: float = Field(default=10.0, gt=0)
    # The relays (authserv-ids of their Authentication-Results, comma-separated) whose word a
    # From domain passed DMARC we take: staff's mail writes as them only then. Empty: never.
    mail_trusted_authserv_ids: str = ""

    # Mail out (shared/mail_out/): staff's public replies, resolutions and acknowledgements of new
    # tickets, mailed to the requester and CCs. Off while SMTP_HOST is empty: nothing is
    # recorded, nothing sent.
    smtp_host: str = ""
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    # "starttls": upgrade the connection (port 587); "tls": TLS from the start (port 465);
    # "none": plain (a relay on the same host, tests).
    smtp_security: Literal["none", "starttls", "tls"] = "starttls"
    smtp_timeout_seconds: float = Field(default=30.0, gt=0)
    # The address mail comes from and replies go to (as local+TKT-042@domain), unless the
    # ticket's category has its own in MAIL_ADDRESSES ("addr=Category Name,...", the setting
    # the mail-in service reads too).
    mail_support_address: str = "support@example.com"
    mail_addresses: str = ""
    mail_from_name: str = "Support"
    # The right-hand side of Message-IDs; empty: the support address's domain.
    mail_domain: str = ""
    mail_acknowledge_new_tickets: bool = True
    # Delays between attempts after a temporary failure (4xx, no connection), +-20 % jitter;
    # after the last one the message has failed for good.
    mail_retry_schedule_seconds: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [60.0, 300.0, 1800.0, 7200.0, 21600.0, 43200.0]
    )
    # A worker's claim on a message it sends lapses after this long (it crashed).
    mail_lease_seconds: float = Field(default=120.0, gt=0)
    # Beat sends what is due (retries, what a lost task left) this often.
    mail_send_interval_seconds: float = Field(default=30.0, gt=0)

    @field_validator(
        "cors_origins",
        "webhook_retry_schedule_seconds",
        "mail_retry_schedule_seconds",
        mode="before",
    )
    @classmethod
    def _split_list(cls, value: object) -> object:
        """A JSON list (the original README's form for CORS_ORIGINS) or "a, b, c"."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator(
        "rate_limit_customer",
        "rate_limit_agent",
        "rate_limit_admin",
        "rate_limit_anonymous",
        "rate_limit_failed_auth",
    )
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        """Refuse at start what the `limits` library cannot parse."""
        try:
            parse_rate_limit(value)
        except ValueError as exc:
            raise ValueError(f"expected a rate like '600/minute': {exc}") from exc
        return value

    @field_validator("metrics_token")
    @classmethod
    def _long_token(cls, value: SecretStr) -> SecretStr:
        if 0 < len(value.get_secret_value()) < _MIN_METRICS_TOKEN_LENGTH:
            raise ValueError(
                f"use at least {_MIN_METRICS_TOKEN_LENGTH} characters "
                "(e.g. the output of `openssl rand -hex 24`)"
            )
        return value

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
