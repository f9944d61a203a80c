"""Serve one port from several API processes: the parent binds the port, forks the workers and
replaces any that dies.

Why one listening socket bound by the parent and shared through fork, rather than a
SO_REUSEPORT socket per worker:
- The accept queue belongs to the parent's socket, so a worker that dies loses only the
  connections it had accepted; with SO_REUSEPORT the connections the kernel had already queued
  on the dead worker's socket are reset, and it keeps hashing new ones onto a worker that hangs.
- The next connection goes to a worker that is free to accept it, not to the one a hash of the
  client's address picks, however busy that one is.
- The port is bound once (port 0 too) and stays open while workers come and go.
The price is that every idle worker wakes for each new connection: nothing at a few workers,
and clients keep their connections alive (the proxy in compose, the benchmark's wrk).

Why fork rather than spawn (uvicorn's `--workers` spawns): the app is imported and `gc.freeze()`d
once, its pages are shared copy-on-write, and a replacement starts in milliseconds. Fork is safe
because the parent holds no thread, event loop, database engine or Redis connection: importing
the app makes none (the lifespan makes them, in each worker), and `_fork` refuses to fork
beside a thread.

Why not uvicorn's `Multiprocess` supervisor: besides spawning, its workers outlive a parent
killed with SIGKILL, and it binds with `socket.socket(AF_INET)`: proto 0, so asyncio's transports
never set TCP_NODELAY on accepted connections, and on the asyncio loop each response's body
waits ~40 ms behind its headers for the client's delayed ACK (uvloop happens to set it anyway).

A worker whose parent is gone (killed with SIGKILL) notices within a second, through
uvicorn's periodic `callback_notify`, and shuts down gracefully like on SIGTERM. Polling
`getppid()` runs on the worker's own loop (no thread) on every platform; PR_SET_PDEATHSIG would
be Linux-only, through ctypes, and still need the same check for a parent that died before the
worker set it.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.config import STARTUP_FAILURE

logger = logging.getLogger(__name__)

# A worker that dies sooner than this after its start is replaced this long after its start,
# not at once: a worker that crashes while starting must not turn the parent into a fork loop.
_MIN_WORKER_LIFETIME_SECONDS = 1.0
# How often a worker checks that its parent still lives (uvicorn's tick is 0.1 s).
_PARENT_CHECK_SECONDS = 1
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

SignalHandler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


def listening_sockets(host: str, port: int, *, backlog: int) -> list[socket.socket]:
    """Bind and listen on each address of `host`, as asyncio's `create_server` does.

    Each socket is made with proto IPPROTO_TCP: accepted connections inherit it, and asyncio
    sets TCP_NODELAY only on connections whose proto says TCP.
    """
    found = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(found):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                # As asyncio does: "::" must not also take the IPv4 port bound beside it.
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(backlog)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


class Supervisor:
    """Fork `workers` processes that serve `sockets` with uvicorn, replace any that dies, and
    on SIGTERM or SIGINT stop them all gracefully, then return.

    The parent waits in `select` on the wakeup pipe that `signal.set_wakeup_fd` writes each
    signal's number to (SIGCHLD included), so no signal is missed between two waits and the
    parent runs no code of its own in a signal handler.
    """

    def __init__(
        self, config: uvicorn.Config, sockets: list[socket.socket], *, workers: int
    ) -> None:
        self._config = config
        self._sockets = sockets
        self._workers = workers
        self._started_at: dict[int, float] = {}  # pid -> time.monotonic() at its fork
        self._replacements_due: list[float] = []  # time.monotonic() at which to fork each
        self._stopping = False
        self._exit_code = 0
        self._pid = os.getpid()
        self._wakeup_read = self._wakeup_write = -1
        self._previous_handlers: dict[signal.Signals, SignalHandler] = {}

    @property
    def worker_pids(self) -> list[int]:
        return list(self._started_at)

    def run(self) -> int:
        """Serve until told to stop; the exit status for the parent process."""
        self._wakeup_read, self._wakeup_write = os.pipe()
        os.set_blocking(self._wakeup_read, False)
        os.set_blocking(self._wakeup_write, False)
        for signum in (*_STOP_SIGNALS, signal.SIGCHLD):
            # A handler of ours, so that the signal is not fatal and reaches the wakeup pipe.
            self._previous_handlers[signum] = signal.signal(signum, _note_signal)
        previous_wakeup = signal.set_wakeup_fd(self._wakeup_write)
        logger.info(
            "Started parent process [%d]: %d workers on %s",
            self._pid,
            self._workers,
            ", ".join(_address(sock) for sock in self._sockets),
        )
        try:
            for _ in range(self._workers):
                self._fork()
            while self._started_at or (self._replacements_due and not self._stopping):
                self._wait_for_signals()
                self._reap()
                self._fork_replacements_due()
        finally:
            signal.set_wakeup_fd(previous_wakeup)
            for signum, handler in self._previous_handlers.items():
                signal.signal(signum, handler)
            os.close(self._wakeup_read)
            os.close(self._wakeup_write)
        logger.info("Stopped parent process [%d]", self._pid)
        return self._exit_code

    def _wait_for_signals(self) -> None:
        timeout = None
        if self._replacements_due and not self._stopping:
            timeout = max(0.0, min(self._replacements_due) - time.monotonic())
        readable, _, _ = select.select([self._wakeup_read], [], [], timeout)
        if not readable:
            return
        try:
            received = os.read(self._wakeup_read, 512)
        except BlockingIOError:
            return
        for signum in received:
            if signum in _STOP_SIGNALS:
                self._stop(signal.Signals(signum).name)

    def _stop(self, reason: str, *, exit_code: int = 0) -> None:
        """First time: SIGTERM every worker (uvicorn's graceful shutdown). After that, SIGINT:
        a worker already shutting down takes it as uvicorn's "force quit"."""
        if self._stopping:
            logger.warning("%s again: forcing the workers to quit", reason)
            self._signal_workers(signal.SIGINT)
            return
        self._stopping = True
        self._exit_code = exit_code
        logger.info("%s: stopping %d workers gracefully", reason, len(self._started_at))
        self._signal_workers(signal.SIGTERM)

    def _signal_workers(self, signum: int) -> None:
        for pid in self._started_at:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass  # exited already: reaped on the next round

    def _reap(self) -> None:
        while self._started_at:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            started_at = self._started_at.pop(pid, None)
            if started_at is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            if self._stopping:
                logger.info("Worker process [%d] stopped", pid)
            elif code == STARTUP_FAILURE:
                # The app cannot start (uvicorn's exit status for it): a replacement would fail
                # the same way, so stop like uvicorn's own supervisor does.
                logger.error("Worker process [%d] failed to start", pid)
                self._stop("a worker failed to start", exit_code=STARTUP_FAILURE)
            else:
                how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit {code}"
                logger.error("Worker process [%d] died (%s): starting a replacement", pid, how)
                self._replacements_due.append(
                    max(time.monotonic(), started_at + _MIN_WORKER_LIFETIME_SECONDS)
                )

    def _fork_replacements_due(self) -> None:
        if self._stopping:
            self._replacements_due.clear()
            return
        now = time.monotonic()
        due = [moment for moment in self._replacements_due if moment <= now]
        self._replacements_due = [moment for moment in self._replacements_due if moment > now]
        for _ in due:
            self._fork()

    def _fork(self) -> None:
        if threading.active_count() > 1:
            # A fork copies a lock another thread holds, locked forever in the child.
            raise RuntimeError(f"refusing to fork beside threads: {threading.enumerate()}")
        # Blocked across the fork: a SIGTERM that reached a new worker before it has put back
        # the default handlers would be swallowed by the parent's, and the parent would wait
        # for that worker forever. The worker unblocks them once its handlers are back.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, {*_STOP_SIGNALS, signal.SIGCHLD})
        try:
            pid = os.fork()
            if pid == 0:
                self._become_worker(mask)  # never returns
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        self._started_at[pid] = time.monotonic()
        logger.info("Started worker process [%d]", pid)

    def _become_worker(self, mask: set[int | signal.Signals]) -> None:
        code = 1
        try:
            signal.set_wakeup_fd(-1)
            os.close(self._wakeup_read)
            os.close(self._wakeup_write)
            for signum, handler in self._previous_handlers.items():
                signal.signal(signum, handler)
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            code = self._serve()
        except KeyboardInterrupt:
            code = 0  # uvicorn raises the SIGINT it shut down for again, once it is done
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            logger.exception("Worker process [%d] failed", os.getpid())
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)

    def _serve(self) -> int:
        server = uvicorn.Server(self._config)
        parent = self._pid

        async def stop_when_orphaned() -> None:
            if os.getppid() != parent:
                logger.warning("Parent process [%d] is gone: shutting down", parent)
                server.should_exit = True

        self._config.callback_notify = stop_when_orphaned
        self._config.timeout_notify = _PARENT_CHECK_SECONDS
        server.run(sockets=self._sockets)
        return 0 if server.started else STARTUP_FAILURE


def _note_signal(signum: int, frame: FrameType | None) -> None:
    """Nothing: the signal's number is already in the wakeup pipe."""


def _address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if sock.family == socket.AF_INET6 else f"http://{host}:{port}"
