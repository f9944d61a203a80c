"""The worker's broker transport: kombu's Redis transport, whose channels outlive their
connection without taking the worker down.

When the worker loses Redis, Celery 5.7 first `collect()`s the broken connection and then
closes it (celery/celery#10242). `collect()` detaches kombu's transport, yet the connection's
default channel survives it half-closed whenever its own close failed on the dead socket (the
reply of the pending BRPOP cannot be read). The second close then restores the tasks the worker
holds, asks the detached transport where Redis is, and fails with AttributeError ("'NoneType'
object has no attribute 'hostname'"); Celery expects only connection errors there, so the worker
exits ("Unrecoverable error"). A channel whose connection is gone raises a connection error
here instead: Celery logs it and reconnects. The tasks stay in Redis's unacknowledged set and
are delivered again after the visibility timeout.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        transport = self.connection
        if transport is None or transport.client is None:
            raise RedisConnectionError("the broker connection of this channel is closed")
        # Not in celery-types' kombu stubs: a private method, stable since kombu 3.
        params: dict[str, Any] = super()._connparams(asynchronous=asynchronous)  # type: ignore[misc]
        return params


class Transport(kombu_redis.Transport):
    Channel = Channel
