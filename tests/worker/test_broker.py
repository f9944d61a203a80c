"""The worker's broker connection when Redis goes away under a channel that holds a task."""

from __future__ import annotations

from contextlib import suppress
from pathlib import Path

from kombu import Consumer, Exchange, Producer, Queue
from kombu.message import Message

from services.worker.app import app
from tests.support.processes import free_port
from tests.support.redis_server import RedisServer


def test_a_lost_connection_whose_channel_holds_a_task_closes_as_celery_closes_it(
    tmp_path: Path,
) -> None:
    redis = RedisServer(port=free_port(), directory=tmp_path / "redis")
    redis.start()
    try:
        connection = app.connection_for_read(url=redis.url)
        channel = connection.default_channel
        tasks = Queue("tasks", routing_key="tasks")
        # An auto-deleted fanout queue on the same channel, as the worker's remote control has:
        # closing the channel deletes it, a second call to Redis that fails once Redis is gone.
        control = Queue("control", Exchange("control", type="fanout"), auto_delete=True)
        Producer(channel).publish({"task": "held"}, routing_key="tasks", declare=[tasks])
        held: list[Message] = []
        consumer = Consumer(channel, [tasks, control], callbacks=[lambda _, m: held.append(m)])
        consumer.qos(prefetch_count=2)
        consumer.consume()
        connection.drain_events(timeout=10)
        assert len(held) == 1, "the worker holds a task, not acknowledged"
        with suppress(TimeoutError):
            connection.drain_events(timeout=0.2)  # leaves the next BRPOP waiting for its reply
    finally:
        redis.stop()

    # What Celery 5.7's consumer does on a lost connection: collect() it, then close() it.
    # Before the fix the close raised AttributeError ("'NoneType' object has no attribute
    # 'hostname'"), which the worker does not survive.
    connection.collect(socket_timeout=5)
    connection.close()
