"""HTTP load from `wrk` (the Debian package), one run at a time, read back as numbers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).with_name("wrk.lua")


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    http_errors: int
    socket_errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def wrk_binary() -> str:
    binary = shutil.which("wrk")
    if binary is None:
        raise SystemExit("wrk is not installed: apt-get install wrk (make bench does it as root)")
    return binary


def run_wrk(
    base_url: str,
    path: str,
    *,
    seconds: float,
    connections: int,
    method: str = "GET",
    body: str = "",
    key: str = "",
    id_max: int = 1,
) -> WrkResult:
    """`connections` keep-alive connections as fast as the server answers, for `seconds`."""
    threads = min(2, connections)
    env = {
        **os.environ,
        "BENCH_METHOD": method,
        "BENCH_PATH": path,
        "BENCH_ID_MAX": str(id_max),
        "BENCH_BODY": body,
        "BENCH_AUTH": key,
    }
    command = [wrk_binary(), f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s"]
    command += ["--timeout", "10s", "-s", str(SCRIPT), base_url]
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("{"))
    raw = json.loads(line)
    return WrkResult(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        http_errors=raw["http_errors"],
        socket_errors=raw["socket_errors"],
        p50_ms=raw["p50_us"] / 1000,
        p95_ms=raw["p95_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
    )
