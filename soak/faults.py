"""The fault loop: every `interval` seconds a SIGKILL and restart of a worker, a notifier or the
api (the api first, then the others in shuffled rounds), and once, as the second fault, Redis
stopped for `redis_outage` seconds and started again (with its data, unless it keeps none)."""

from __future__ import annotations

import logging
import random
import threading
import time
from dataclasses import dataclass, field

from soak.services import Service, Supervisor, restart
from tests.support.redis_server import RedisServer

logger = logging.getLogger("soak")


@dataclass(frozen=True)
class Fault:
    at: float  # seconds since the traffic started
    target: str
    took: float  # seconds until the target was back


@dataclass
class FaultLoop:
    supervisor: Supervisor
    victims: list[Service]
    redis: RedisServer
    interval: float
    redis_outage: float
    rng: random.Random
    done: list[Fault] = field(default_factory=list)
    redis_down: tuple[float, float] | None = None  # monotonic
    _stopping: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def begin(self) -> None:
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="faults", daemon=True)
        self._thread.start()

    def end(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()

    def _targets(self) -> list[Service]:
        """The api first (every run kills it once), then everything in shuffled rounds."""
        order = [victim for victim in self.victims if victim.name == "api"]
        while len(order) < 1000:
            round_ = list(self.victims)
            self.rng.shuffle(round_)
            order += round_
        return order

    def _run(self) -> None:
        """Fault n at interval/2 + (n-1)·interval seconds, whatever the previous one took."""
        targets = iter(self._targets())
        number = 0
        while True:
            due = self._started + self.interval / 2 + number * self.interval
            if self._stopping.wait(max(0.0, due - time.monotonic())):
                return
            number += 1
            began = time.monotonic()
            if number == 2:
                self._stop_redis()
                name = f"redis ({self.redis_outage:.0f} s outage)"
            else:
                victim = next(targets)
                with self.supervisor.lock:
                    logger.info("fault: SIGKILL %s", victim.name)
                    victim.kill()
                    restart(victim)
                name = victim.name
            took = time.monotonic() - began
            self.done.append(Fault(at=began - self._started, target=name, took=took))

    def _stop_redis(self) -> None:
        logger.info("fault: redis stopped for %.0f s", self.redis_outage)
        stopped = time.monotonic()
        self.redis.stop()
        self._stopping.wait(self.redis_outage)
        self.redis.start()
        self.redis_down = (stopped, time.monotonic())
        logger.info("fault: redis back")
