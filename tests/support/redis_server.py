"""A private redis-server for the tests, on its own port, that a test can stop and restart."""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

from tests.support.processes import wait_until


class RedisServer:
    # Nothing on disk by default: a restart is a Redis that lost everything (a fault of its own).
    append_only = False

    def __init__(self, *, port: int, directory: Path) -> None:
        self.port = port
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> Redis:
        return Redis.from_url(self.url, socket_timeout=5)

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed (Debian: apt-get install redis-server)"
        self.directory.mkdir(parents=True, exist_ok=True)
        log = (self.directory / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.directory),
                "--save",
                "",
                "--appendonly",
                "yes" if self.append_only else "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )

        def answers() -> bool:
            try:
                return bool(self.client().ping())
            except RedisError:
                return False

        wait_until(answers, timeout=30, what=f"redis-server on port {self.port}")

    def stop(self, *, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=15)
        self.process = None
