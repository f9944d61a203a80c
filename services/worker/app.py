"""The worker's Celery application: `celery -A services.worker.app worker` (and `beat`)."""

from __future__ import annotations

# Imported for their Celery signal handlers: our logging, the task context, the metrics.
from services.worker import logs, metrics  # noqa: F401
from shared.celery_app import get_celery

app = get_celery()
app.conf.include = ["services.worker.tasks"]
# Kombu's Redis transport with one fix: see services/worker/broker.py.
app.conf.broker_transport = "services.worker.broker:Transport"
