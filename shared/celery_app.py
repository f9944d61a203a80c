"""The Celery application: its broker settings, shared by whoever sends or runs tasks.

Configured for a broker that must not lose work: a task is acknowledged only after it ran
(`acks_late`), a worker killed mid-task hands the task back (`task_reject_on_worker_lost`), each
worker process reserves one task at a time, and a task not acknowledged within the visibility
timeout is delivered again. No deadline is ever held as an ETA: the database holds the SLA due
times and beat scans them.
"""

from __future__ import annotations

from functools import lru_cache

from celery import Celery

from shared import tasks
from shared.settings import Settings, get_settings


def create_celery(settings: Settings) -> Celery:
    app = Celery("ticketing", broker=settings.redis_url)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        worker_enable_soft_shutdown_on_idle=True,
        worker_soft_shutdown_timeout=10.0,
        broker_transport_options={
            "visibility_timeout": settings.celery_visibility_timeout_seconds,
            "socket_timeout": settings.redis_timeout_seconds,
            "socket_connect_timeout": settings.redis_timeout_seconds,
        },
        broker_connection_retry_on_startup=True,
        # Sending must fail fast when Redis is away: the outbox keeps the event for the relay.
        task_publish_retry=False,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        timezone="UTC",
        enable_utc=True,
        worker_hijack_root_logger=False,
        beat_schedule={
            "scan-sla-breaches": {
                "task": tasks.SCAN_SLA_BREACHES,
                "schedule": settings.sla_scan_interval_seconds,
            },
            "scan-automations": {
                "task": tasks.SCAN_AUTOMATIONS,
                "schedule": settings.automation_scan_interval_seconds,
                # A run queued while no worker ran is of no use once the next one is due.
                "options": {"expires": settings.automation_scan_interval_seconds},
            },
            "relay-outbox": {
                "task": tasks.RELAY_OUTBOX,
                "schedule": settings.outbox_relay_interval_seconds,
            },
            "reconcile-outbox": {
                "task": tasks.RECONCILE_OUTBOX,
                "schedule": settings.outbox_reconcile_interval_seconds,
                # A pass queued while no worker ran is of no use once the next one is due.
                "options": {"expires": settings.outbox_reconcile_interval_seconds},
            },
            "refresh-stats": {
                "task": tasks.REFRESH_STATS,
                "schedule": settings.stats_refresh_interval_seconds,
            },
            "send-mail": {
                "task": tasks.SEND_MAIL,
                "schedule": settings.mail_send_interval_seconds,
                "options": {"expires": settings.mail_send_interval_seconds},
            },
            "prune-processed-events": {"task": tasks.PRUNE_PROCESSED_EVENTS, "schedule": 3600.0},
            "prune-idempotency-keys": {"task": tasks.PRUNE_IDEMPOTENCY_KEYS, "schedule": 3600.0},
        },
    )
    return app


@lru_cache
def get_celery() -> Celery:
    return create_celery(get_settings())
