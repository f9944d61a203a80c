"""Real processes for the tests: the API server on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.databases import new_database_url

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    predicate: object, *, timeout: float, interval: float = 0.05, what: str = ""
) -> None:
    """Poll `predicate` until it returns true or the deadline passes (then fail loudly)."""
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")


@dataclass
class ApiServer:
    process: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def worker_pids(self) -> list[int]:
        """The worker processes of `--workers N` (N > 1); none for a single process."""
        return child_pids(self.process.pid)


def child_pids(parent: int) -> list[int]:
    """The live processes whose parent is `parent` (Linux: read from /proc)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name, in parentheses, may hold spaces: the fields follow its ")".
            state, ppid = stat.read_text().rpartition(")")[2].split()[:2]
        except OSError:
            continue  # exited while we looked
        if int(ppid) == parent and state != "Z":
            children.append(int(stat.parent.name))
    return sorted(children)


def start_api_server(
    *, env: dict[str, str], port: int | None = None, workers: int = 1
) -> ApiServer:
    """`ticketing serve` on a loopback port, answering /health. One process by default: the
    tests that kill the API expect one (`workers=N` starts a parent and N workers)."""
    port = port or free_port()
    log_dir = Path(os.environ.get("TMPDIR", "/tmp"))
    log_path = log_dir / f"ticketing-api-{port}.log"
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        [
            *(str(BIN / "ticketing"), "serve", "--host", "127.0.0.1", "--port", str(port)),
            *("--workers", str(workers)),
        ],
        env={**os.environ, **env},
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    server = ApiServer(process=process, base_url=f"http://127.0.0.1:{port}", log_path=log_path)

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"API server exited early:\n{server.log()}")
        return httpx.get(f"{server.base_url}/health", timeout=1).status_code == 200

    try:
        wait_until(healthy, timeout=30, what="the API server to answer /health")
    except BaseException:
        server.stop()
        raise
    return server


def ticketing(*args: str, env: dict[str, str]) -> str:
    """Run the `ticketing` command; returns its stdout, fails the test on a non-zero exit."""
    result = subprocess.run(
        [str(BIN / "ticketing"), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"ticketing {' '.join(args)} failed:\n{result.stderr}"
    return result.stdout


def fresh_database_env(directory: Path) -> dict[str, str]:
    """Environment for a new, migrated and seeded SQLite database under `directory`."""
    env = {"DATABASE_URL": new_database_url(directory)}
    ticketing("migrate", env=env)
    ticketing("seed", env=env)
    return env
