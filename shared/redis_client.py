"""The Redis connection every service shares (the event stream, locks, coalescing flags)."""

from __future__ import annotations

from functools import lru_cache

from redis import Redis

from shared.settings import get_settings


@lru_cache
def get_redis() -> Redis:
    settings = get_settings()
    return Redis.from_url(
        settings.redis_url,
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds,
        health_check_interval=30,
    )
