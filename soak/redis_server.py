"""Redis as production runs it (docker-compose.yml: `--appendonly yes`): its data survives a
stop and start, so the event stream, the notifier's consumer group and Celery's queued and
unacknowledged tasks are still there when it comes back. (The tests' private Redis keeps nothing
on disk: a restart there is a Redis that lost everything, a different fault.)"""

from __future__ import annotations

from tests.support.redis_server import RedisServer


class PersistentRedis(RedisServer):
    append_only = True
