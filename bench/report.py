"""The benchmark's table: each figure beside its same-run baseline and its target."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.wrk import WrkResult


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


@dataclass(frozen=True)
class Row:
    measurement: str
    value: float
    unit: str
    target: str
    baseline: float | None = None
    detail: str = ""
    lower_is_better: bool = False
    # A figure quoted from elsewhere (another product's), printed for comparison, not measured.
    reference: bool = False

    @property
    def ratio(self) -> float | None:
        """value / baseline: for throughput the share of the baseline reached, for latency how
        many times the baseline's time it takes."""
        if not self.baseline:
            return None
        return self.value / self.baseline

    @classmethod
    def latency(cls, name: str, millis: list[float], *, target: str, detail: str = "") -> Row:
        summary = (
            f"p50 {percentile(millis, 0.5):.1f}, p90 {percentile(millis, 0.9):.1f}, "
            f"max {max(millis):.1f} ms, mean {statistics.fmean(millis):.1f} ms, n={len(millis)}"
        )
        return cls(
            measurement=f"{name}: p99",
            value=percentile(millis, 0.99),
            unit="ms",
            target=target,
            detail="; ".join(part for part in (summary, detail) if part),
            lower_is_better=True,
        )

    @classmethod
    def from_wrk(cls, name: str, result: WrkResult, *, target: str) -> Row:
        return cls(
            measurement=f"{name}: p95",
            value=result.p95_ms,
            unit="ms",
            target=target,
            detail=f"p50 {result.p50_ms:.2f}, p99 {result.p99_ms:.2f} ms, "
            f"{result.per_second:.0f} req/s on one connection, "
            f"{result.http_errors + result.socket_errors} errors",
            lower_is_better=True,
        )


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.2f}" if value < 10 else f"{value:.1f}"


def print_table(header: str, rows: list[Row]) -> None:
    print(f"\n{header}\n")
    print("| measurement | result | same-run baseline | ratio | target | detail |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in rows:
        result = f"{_number(row.value)} {row.unit}"
        if row.reference:
            result = f"≈ {result} (reference, not measured)"
        baseline = f"{_number(row.baseline)} {row.unit}" if row.baseline else ""
        ratio = f"{row.ratio:.0%}" if row.ratio is not None and not row.lower_is_better else ""
        if row.ratio is not None and row.lower_is_better:
            ratio = f"{row.ratio:.2f}×"
        print(
            f"| {row.measurement} | {result} | {baseline} | {ratio} | {row.target} | {row.detail} |"
        )


def write_json(directory: Path, header: str, rows: list[Row], **extra: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"bench-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    document = {
        "header": header,
        **extra,
        "rows": [asdict(row) | {"ratio": row.ratio} for row in rows],
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    return path
