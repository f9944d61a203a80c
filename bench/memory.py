"""Peak resident memory of running services, sampled from /proc while a load runs."""

from __future__ import annotations

import threading
from pathlib import Path
from types import TracebackType


def _children(pid: int) -> list[int]:
    children = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        children += [int(child) for child in task.read_text().split()]
    return children


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class MemorySampler:
    """For each named service (a pid and its child processes, e.g. a Celery worker's pool), the
    largest resident size any one of its processes reached."""

    def __init__(self, services: dict[str, int], *, interval: float = 0.25) -> None:
        self.services = services
        self.interval = interval
        self._peaks = dict.fromkeys(services, 0.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        for name, pid in self.services.items():
            for process in [pid, *_children(pid)]:
                try:
                    self._peaks[name] = max(self._peaks[name], _rss_mb(process))
                except (FileNotFoundError, ProcessLookupError):
                    pass

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def __enter__(self) -> MemorySampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def peaks(self) -> dict[str, float]:
        return dict(self._peaks)
