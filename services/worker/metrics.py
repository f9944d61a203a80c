"""The worker's Prometheus metrics: tasks by name and outcome, and how long they took.

Tasks run in the pool's child processes, so the numbers use prometheus-client's multiprocess
mode: every process writes its own to files in PROMETHEUS_MULTIPROC_DIR, and the main worker
process adds them all up when scraped (on WORKER_METRICS_PORT). The library chooses between
memory and files when it is first imported, so the directory is set, and prometheus_client
imported, only once the main worker process starts (`celeryd_init`), before the pool forks;
beat, which imports the same app, never loads it.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from celery import Task, signals

from shared.settings import get_settings

if TYPE_CHECKING:
    from prometheus_client import Counter, Histogram

logger = logging.getLogger(__name__)

_OUTCOMES = {"SUCCESS": "succeeded", "RETRY": "retried", "FAILURE": "failed", "REJECTED": "failed"}
# Tasks take from milliseconds (an event) to minutes (a statistics refresh on a big database).
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


@dataclass(frozen=True)
class _TaskMetrics:
    tasks: Counter
    duration: Histogram
    directory: Path
    # A directory this worker made, removed when it stops (one it was given is left alone).
    own_directory: bool


_metrics: _TaskMetrics | None = None
# When each task under way in this process started.
_started: dict[str, float] = {}


def _multiprocess_directory() -> tuple[Path, bool]:
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not given:
        made = Path(tempfile.mkdtemp(prefix="ticketing-worker-metrics-"))
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(made)
        return made, True
    directory = Path(given)
    directory.mkdir(parents=True, exist_ok=True)
    # A previous run's files would be counted again: the library wants it empty at start.
    for stale in directory.glob("*.db"):
        stale.unlink()
    return directory, False


@signals.celeryd_init.connect
def _prepare(**_: Any) -> None:
    global _metrics
    if not get_settings().worker_metrics_port:
        return
    directory, own = _multiprocess_directory()
    # Imported here, after PROMETHEUS_MULTIPROC_DIR is set: see the module's docstring.
    from prometheus_client import Counter, Histogram, values

    if values.ValueClass is values.MutexValue:
        raise RuntimeError(
            "prometheus_client was imported before the worker set PROMETHEUS_MULTIPROC_DIR: "
            "the pool's numbers would be lost"
        )
    _metrics = _TaskMetrics(
        tasks=Counter(
            "ticketing_worker_tasks",
            "Tasks run, by task name and outcome (succeeded, failed, retried).",
            ["task", "outcome"],
        ),
        duration=Histogram(
            "ticketing_worker_task_duration_seconds",
            "Time a task ran, by task name.",
            ["task"],
            buckets=_DURATION_BUCKETS,
        ),
        directory=directory,
        own_directory=own,
    )


@signals.worker_ready.connect
def _serve(**_: Any) -> None:
    """Started once the pool is up, so the children do not inherit the listening socket."""
    if _metrics is None:
        return
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    settings = get_settings()
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(_metrics.directory))  # type: ignore[no-untyped-call]
    host, port = settings.metrics_host, settings.worker_metrics_port
    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        # Tasks matter more than their numbers: the worker runs on without them.
        logger.error("worker metrics not served on %s:%d: %s", host, port, exc)
        return
    logger.info("worker metrics on http://%s:%d/metrics", host, port)


@signals.worker_shutdown.connect
def _clean_up(**_: Any) -> None:
    if _metrics is not None and _metrics.own_directory:
        shutil.rmtree(_metrics.directory, ignore_errors=True)


@signals.task_prerun.connect
def _task_started(task_id: str, **_: Any) -> None:
    if _metrics is not None:
        _started[task_id] = time.perf_counter()


@signals.task_postrun.connect
def _task_finished(task_id: str, task: Task[Any, Any], state: str | None, **_: Any) -> None:
    started = _started.pop(task_id, None)
    if _metrics is None or started is None:
        return
    outcome = _OUTCOMES.get(state or "", (state or "unknown").lower())
    _metrics.tasks.labels(task.name, outcome).inc()
    _metrics.duration.labels(task.name).observe(time.perf_counter() - started)
