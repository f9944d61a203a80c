"""The system's processes as the soak sees them: each can be started, SIGKILLed and asked whether
it died, and a supervisor restarts whatever exited (like a compose restart policy)."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.processes import ApiServer, start_api_server
from tests.support.system import ServiceProcess

logger = logging.getLogger("soak")


class Service:
    """One service (a worker, a notifier, beat or the api) that the soak may kill."""

    name: str

    def start(self) -> None:
        raise NotImplementedError

    def kill(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def exit_code(self) -> int | None:
        """The exit code if the process ended (crashed), None while it runs."""
        raise NotImplementedError

    def pid(self) -> int | None:
        raise NotImplementedError


class BackgroundService(Service):
    """A Celery worker, beat or a notifier: a process group of its own."""

    def __init__(self, process: ServiceProcess) -> None:
        self.process = process
        self.name = process.name

    def start(self) -> None:
        self.process.start()
        # Only the first start waits for readiness: a restart while Redis is away must not
        # block the supervisor (Celery and the notifier wait for Redis by themselves).
        self.process.ready_text = None

    def kill(self) -> None:
        if self.process.process is not None:
            try:
                os.killpg(self.process.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.process.wait(timeout=10)
            self.process.process = None

    def stop(self) -> None:
        self.process.stop()

    def exit_code(self) -> int | None:
        running = self.process.process
        return None if running is None else running.poll()

    def pid(self) -> int | None:
        running = self.process.process
        return None if running is None or running.poll() is not None else running.pid


class ApiService(Service):
    """`ticketing serve` on a fixed port; each run's log is kept under the soak's directory."""

    def __init__(self, *, env: dict[str, str], port: int, directory: Path) -> None:
        self.name = "api"
        self.env = env
        self.port = port
        self.directory = directory
        self.server: ApiServer | None = None
        self.starts = 0
        self.down_since: float | None = None
        self.down: list[tuple[float, float]] = []  # (from, to) monotonic: when it did not answer

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._keep_log()
        self.starts += 1
        self.server = start_api_server(env=self.env, port=self.port)
        if self.down_since is not None:
            self.down.append((self.down_since, time.monotonic()))
            self.down_since = None

    def _keep_log(self) -> None:
        if self.server is not None and self.server.log_path.exists():
            shutil.move(self.server.log_path, self.directory / f"api-{self.starts}.log")

    def kill(self) -> None:
        if self.server is not None and self.server.process.poll() is None:
            self.down_since = time.monotonic()
            self.server.process.kill()
            self.server.process.wait(timeout=10)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self._keep_log()

    def exit_code(self) -> int | None:
        if self.server is None:
            return None
        code = self.server.process.poll()
        if code is not None and self.down_since is None:
            self.down_since = time.monotonic()
        return code

    def pid(self) -> int | None:
        if self.server is None or self.server.process.poll() is not None:
            return None
        return self.server.process.pid

    def was_down(self, moment: float, *, slack: float = 1.0) -> bool:
        spans = [*self.down, *([(self.down_since, time.monotonic())] if self.down_since else [])]
        return any(start - slack <= moment <= end + slack for start, end in spans)


@dataclass
class Supervisor:
    """Restarts any service that exited on its own; the fault loop kills and restarts under
    the same lock so that the two never restart one service twice."""

    services: list[Service]
    interval: float = 0.5
    lock: threading.Lock = field(default_factory=threading.Lock)
    crashes: dict[str, list[int]] = field(default_factory=dict)  # name -> exit codes
    _stopping: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def begin(self) -> None:
        self._thread = threading.Thread(target=self._run, name="supervisor", daemon=True)
        self._thread.start()

    def end(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stopping.wait(self.interval):
            with self.lock:
                for service in self.services:
                    code = service.exit_code()
                    if code is None:
                        continue
                    self.crashes.setdefault(service.name, []).append(code)
                    logger.warning("%s exited with %s: restarting it", service.name, code)
                    restart(service)

    def all_running(self) -> bool:
        with self.lock:
            return all(service.pid() is not None for service in self.services)


def restart(service: Service) -> None:
    """Start the service again; a failed start is left for the supervisor's next round."""
    try:
        service.start()
    except AssertionError as exc:
        logger.warning("%s did not start: %s", service.name, str(exc)[:500])
