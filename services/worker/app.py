"""The worker's Celery application: `celery -A services.worker.app worker` (and `beat`)."""

from __future__ import annotations

import logging

from shared.celery_app import get_celery

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

app = get_celery()
app.conf.include = ["services.worker.tasks"]
