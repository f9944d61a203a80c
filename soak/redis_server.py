"""The soak's Redis. By default as production runs it (docker-compose.yml: `--appendonly yes`):
its data survives a stop and start, so the event stream, the notifier's consumer group and
Celery's queued and unacknowledged tasks are still there when it comes back. With
`--redis volatile` it keeps nothing on disk (as the tests' private Redis): the stop loses
everything it held, and the outbox reconciler publishes the lost events again."""

from __future__ import annotations

from pathlib import Path

from tests.support.redis_server import RedisServer

KINDS = ("append-only", "volatile")


class PersistentRedis(RedisServer):
    append_only = True


def soak_redis(kind: str, *, port: int, directory: Path) -> RedisServer:
    if kind == "volatile":
        return RedisServer(port=port, directory=directory)
    return PersistentRedis(port=port, directory=directory)
