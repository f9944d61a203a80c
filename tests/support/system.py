"""The whole local system for system tests: a private Redis, the API, Celery worker and beat,
on a fresh SQLite database, with timings shortened through settings."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session

from tests.support.processes import (
    BIN,
    ApiServer,
    free_port,
    fresh_database_env,
    start_api_server,
    ticketing,
    wait_until,
)
from tests.support.redis_server import RedisServer

FAST_TIMINGS = {
    "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
    "WEBHOOK_RETRY_SCHEDULE_SECONDS": "1,1,1",
    "WEBHOOK_TIMEOUT_SECONDS": "2",
    "NOTIFIER_LEASE_SECONDS": "5",
    "NOTIFIER_RECLAIM_IDLE_SECONDS": "3",
    "NOTIFIER_POLL_SECONDS": "0.2",
    "SLA_SCAN_INTERVAL_SECONDS": "0.5",
    "OUTBOX_RELAY_INTERVAL_SECONDS": "1",
    "OUTBOX_RELAY_MIN_AGE_SECONDS": "1",
    "STATS_REFRESH_INTERVAL_SECONDS": "5",
    "CELERY_VISIBILITY_TIMEOUT_SECONDS": "5",
    "REDIS_TIMEOUT_SECONDS": "0.5",
    # Off unless a test asks: systems running side by side would fight over the default ports.
    "WORKER_METRICS_PORT": "0",
    "NOTIFIER_METRICS_PORT": "0",
}

USERS = {
    "customer": "john.doe@example.com",
    "other_customer": "jane.smith@example.com",
    "agent": "sarah.johnson@example.com",
    "admin": "admin@example.com",
}


class ServiceProcess:
    """A service (celery worker or beat, the notifier) in a process group of its own, so that
    a kill takes a worker's pool children with it."""

    def __init__(
        self,
        name: str,
        command: list[str],
        *,
        env: dict[str, str],
        directory: Path,
        ready_text: str | None = None,
    ) -> None:
        self.name = name
        self.command = command
        self.env = env
        self.directory = directory
        self.ready_text = ready_text
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def log_path(self) -> Path:
        return self.directory / f"{self.name}-{self.starts}.log"

    def start(self) -> None:
        self.starts += 1
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            self.command,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if self.ready_text:
            ready_text = self.ready_text
            wait_until(lambda: ready_text in self.log(), timeout=30, what=f"the {self.name}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the whole process group: no chance to hand anything back."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()
        self.process = None


def celery_worker(env: dict[str, str], directory: Path, *, concurrency: int = 1) -> ServiceProcess:
    command = [
        str(BIN / "celery"),
        "-A",
        "services.worker.app",
        "worker",
        "--loglevel=INFO",
        f"--concurrency={concurrency}",
        "--without-mingle",
        "--without-gossip",
    ]
    return ServiceProcess("worker", command, env=env, directory=directory, ready_text=" ready.")


def celery_beat(env: dict[str, str], directory: Path) -> ServiceProcess:
    command = [
        str(BIN / "celery"),
        "-A",
        "services.worker.app",
        "beat",
        "--loglevel=INFO",
        f"--schedule={directory / 'beat-schedule'}",
    ]
    return ServiceProcess("beat", command, env=env, directory=directory)


def notifier(env: dict[str, str], directory: Path, *, name: str = "notifier") -> ServiceProcess:
    command = [str(BIN / "python"), "-m", "services.notifier"]
    return ServiceProcess(name, command, env=env, directory=directory, ready_text=" started")


@dataclass
class System:
    env: dict[str, str]
    redis: RedisServer
    api: ApiServer
    worker: ServiceProcess
    beat: ServiceProcess
    notifier: ServiceProcess
    keys: dict[str, str]
    engine: Engine
    clients: dict[str, httpx.Client] = field(default_factory=dict)

    def client(self, role: str) -> httpx.Client:
        if role not in self.clients:
            self.clients[role] = httpx.Client(
                base_url=self.api.base_url,
                headers={"Authorization": f"Bearer {self.keys[role]}"},
                timeout=30,
            )
        return self.clients[role]

    def db(self) -> Session:
        """A session whose every query sees the latest commit."""
        return Session(self.engine)


@contextmanager
def running_system(
    directory: Path,
    *,
    with_beat: bool = True,
    with_notifier: bool = False,
    worker_concurrency: int = 1,
    api_workers: int = 1,
    settings: dict[str, str] | None = None,
    timings: dict[str, str] = FAST_TIMINGS,
    redis_append_only: bool = False,
) -> Iterator[System]:
    redis = RedisServer(port=free_port(), directory=directory / "redis")
    # A Redis that keeps its data across a restart (compose's), for tests about the restart
    # itself rather than about a Redis that lost everything.
    redis.append_only = redis_append_only
    redis.start()
    env = {
        **fresh_database_env(directory),
        "REDIS_URL": redis.url,
        **timings,
        **(settings or {}),
    }
    keys = {
        role: ticketing("api-key", "create", "--email", email, env=env).strip()
        for role, email in USERS.items()
    }
    worker = celery_worker(env, directory, concurrency=worker_concurrency)
    beat = celery_beat(env, directory)
    notifier_process = notifier(env, directory)
    api = start_api_server(env=env, workers=api_workers)
    engine = create_engine(env["DATABASE_URL"], isolation_level="AUTOCOMMIT")
    system = System(
        env=env,
        redis=redis,
        api=api,
        worker=worker,
        beat=beat,
        notifier=notifier_process,
        keys=keys,
        engine=engine,
    )
    try:
        worker.start()
        if with_beat:
            beat.start()
        if with_notifier:
            notifier_process.start()
        yield system
    finally:
        for client in system.clients.values():
            client.close()
        notifier_process.stop()
        beat.stop()
        worker.stop()
        api.stop()
        redis.stop()
        engine.dispose()
