"""`ticketing start`, what `make run` runs: the Procfile's processes, kept running.

honcho's pieces run each process and print its lines prefixed by its name, as `honcho start`
does; but `honcho start` stops everything once any process exits. Here a process that exits is
started again, as compose's restart policy does, after a pause that doubles while it keeps
exiting soon after its start. Whatever an exited process left in its process group (a Celery
worker's pool children) is killed, as a container's end would kill it. Ctrl-C or SIGTERM stops
them all.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

from honcho.colour import get_colours
from honcho.environ import expand_processes, parse, parse_procfile
from honcho.printer import Message, Printer
from honcho.process import Popen, Process

SYSTEM = "system"
FIRST_RESTART_DELAY_SECONDS = 1.0
MAX_RESTART_DELAY_SECONDS = 30.0
# A process that ran this long before it exited is restarted after the first delay again.
STABLE_AFTER_SECONDS = 10.0
# After SIGTERM, how long the processes have to stop before they are killed.
STOP_TIMEOUT_SECONDS = 10.0
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


class GroupEndingPopen(Popen):  # type: ignore[misc]  # honcho is untyped
    """honcho's Popen (the command in a process group of its own), whose group is killed when
    the command ends. honcho waits for the end of the command's output before it reports the
    end, and the pool children of a killed Celery worker hold that output open."""

    def __init__(self, cmd: str, **kwargs: Any) -> None:
        super().__init__(cmd, **kwargs)
        threading.Thread(target=self._end_group, daemon=True).start()

    def _end_group(self) -> None:
        self.wait()
        _signal_group(self.pid, signal.SIGKILL)


class CommandProcess(Process):  # type: ignore[misc]
    """honcho's Process, on GroupEndingPopen."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._child_ctor = GroupEndingPopen  # the seam honcho's own tests use


@dataclass
class ManagedProcess:
    """One Procfile process and its current run."""

    process: Process
    pid: int | None = None
    started_at: float = 0.0
    running: bool = False
    restart_at: float | None = None
    restart_delay: float = FIRST_RESTART_DELAY_SECONDS
    runner: Any = field(default=None, repr=False)  # its multiprocessing.Process


class ProcfileRunner:
    """Run processes until told to stop, starting again any that exits."""

    def __init__(self, processes: list[Process], *, printer: Printer) -> None:
        self.events: Any = multiprocessing.Queue()
        self.printer = printer
        self.printer.width = max([len(SYSTEM), *(len(p.name) for p in processes)])
        self.managed = {p.name: ManagedProcess(process=p) for p in processes}
        self.stop_signal: int | None = None
        self.stopping_since: float | None = None
        self.killed = False

    def run(self) -> int:
        """Run until SIGINT or SIGTERM; the exit code says which."""
        signal.signal(signal.SIGINT, self._on_stop_signal)
        signal.signal(signal.SIGTERM, self._on_stop_signal)
        for managed in self.managed.values():
            self._start(managed)
        while self.stopping_since is None or any(m.running for m in self.managed.values()):
            try:
                self._handle(self.events.get(timeout=0.1))
            except queue.Empty:
                pass
            self._step(time.monotonic())
        return EXIT_CODES.get(signal.Signals(self.stop_signal), 0) if self.stop_signal else 0

    def _on_stop_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stop_signal = signum

    def _step(self, now: float) -> None:
        if self.stop_signal is not None and self.stopping_since is None:
            self.stopping_since = now
            self._say(f"{signal.Signals(self.stop_signal).name} received: stopping everything")
            self._signal_all(signal.SIGTERM)
        elif self.stopping_since is not None:
            if not self.killed and now - self.stopping_since > STOP_TIMEOUT_SECONDS:
                self.killed = True
                self._signal_all(signal.SIGKILL)
        else:
            for managed in self.managed.values():
                if managed.restart_at is not None and managed.restart_at <= now:
                    self._start(managed)

    def _handle(self, message: Message) -> None:
        managed = self.managed[message.name]
        if message.type == "line":
            self.printer.write(message)
        elif message.type == "start":
            managed.pid = message.data["pid"]
            self._say(f"{message.name} started (pid={managed.pid})")
            if self.stopping_since is not None:  # started as the stop began
                _signal_group(managed.pid, signal.SIGTERM)
        elif message.type == "stop":
            self._stopped(managed, returncode=message.data["returncode"])

    def _stopped(self, managed: ManagedProcess, *, returncode: int) -> None:
        managed.running = False
        managed.runner.join()
        name = managed.process.name
        if self.stopping_since is not None:
            self._say(f"{name} stopped (rc={returncode})")
            return
        now = time.monotonic()
        if now - managed.started_at >= STABLE_AFTER_SECONDS:
            managed.restart_delay = FIRST_RESTART_DELAY_SECONDS
        managed.restart_at = now + managed.restart_delay
        self._say(
            f"{name} exited (rc={returncode}): starting it again in {managed.restart_delay:g} s"
        )
        managed.restart_delay = min(2 * managed.restart_delay, MAX_RESTART_DELAY_SECONDS)

    def _start(self, managed: ManagedProcess) -> None:
        managed.restart_at = None
        managed.pid = None
        managed.started_at = time.monotonic()
        managed.running = True
        # honcho's Process runs the command in a new session (its own process group) and sends
        # its lines, its start and its end to the queue; True: Ctrl-C is ours to handle.
        managed.runner = multiprocessing.Process(
            name=managed.process.name, target=managed.process.run, args=(self.events, True)
        )
        managed.runner.start()

    def _signal_all(self, signum: int) -> None:
        for managed in self.managed.values():
            if managed.running and managed.pid is not None:
                _signal_group(managed.pid, signum)

    def _say(self, text: str) -> None:
        self.printer.write(Message("line", f"{text}\n", datetime.now(), SYSTEM, None))


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass


def run_procfile(procfile: Path, *, names: list[str], port: int, env_file: Path) -> int:
    """Run the Procfile's processes called `names` (all by default) as `honcho start` would:
    `env_file`'s variables on top of ours, PORT `port` for the first, 100 more for each next."""
    declared = parse_procfile(procfile.read_text()).processes
    unknown = [name for name in names if name not in declared]
    if unknown:
        raise ValueError(f"not in {procfile}: {', '.join(unknown)}")
    chosen = {name: declared[name] for name in names} if names else declared
    app_env = parse(env_file.read_text()) if env_file.is_file() else {}
    colours = get_colours()
    processes = [
        CommandProcess(
            params.cmd, name=params.name, colour=next(colours), env={**os.environ, **params.env}
        )
        for params in expand_processes(chosen, env=app_env, port=port)
    ]
    return ProcfileRunner(processes, printer=Printer(sys.stdout)).run()
