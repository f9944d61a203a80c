"""Redis as production runs it (docker-compose.yml: `--appendonly yes`): its data survives a
stop and start, so the event stream, the notifier's consumer group and Celery's queued and
unacknowledged tasks are still there when it comes back. (The tests' private Redis keeps nothing
on disk: a restart there is a Redis that lost everything, a different fault.)"""

from __future__ import annotations

import shutil
import subprocess

from redis.exceptions import RedisError

from tests.support.processes import wait_until
from tests.support.redis_server import RedisServer


class PersistentRedis(RedisServer):
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
                "yes",
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
