"""Sustained ingest: the highest fixed creation rate the whole system keeps up with.

The issue's definition: the highest fixed rate of ticket creations at which created → SLA
computed and searchable (the event lag: a ticket's `created_at` to the worker's `processed_at`
of its `ticket.created` event) stays ≤ 1 s at p99 for 60 s.

The search runs steps of a fixed rate, each from the paced client (bench/load.py) in its own
process. A step passes when every creation got a 2xx, the client kept the pace (it sent at least
95 % of the asked rate: when the API answers too slowly every connection is busy and requests go
out late) and the event lag's p99 is ≤ 1 s. From the start rate the rate doubles until a step
fails, then bisects between the highest pass and the lowest failure; the highest pass is then
confirmed by one long step (60 s in the full run), and if that fails, once more at 80 % of it.

While a step runs the harness counts the step's tickets still unprocessed more than 1 s after
their creation; once they are more than 1 % of the step's planned tickets the p99 is past 1 s
whatever follows, and the step stops there, so a failing step leaves the worker a backlog of a
second or two rather than a minute's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from bench.load import PacedClient, PacedRun
from bench.plan import IngestPlan
from bench.report import percentile
from shared.clock import utcnow
from shared.models import OutboxEvent, ProcessedEvent, Ticket
from tests.support.processes import wait_until
from tests.support.system import System

LAG_LIMIT = timedelta(seconds=1)
PACE_SHARE = 0.95  # of the asked rate the client must achieve
CONNECTIONS = 64


@dataclass(frozen=True)
class Step:
    rate: float
    seconds: float
    run: PacedRun
    lags_ms: list[float]
    stopped_because: str  # why the harness stopped the step early; "" when it ran its course

    @property
    def failure(self) -> str:
        """Why the step failed; "" when it passed."""
        if self.stopped_because:
            return self.stopped_because
        if self.run.failed or not self.lags_ms:
            return f"{self.run.failed} of {self.run.sent} creations failed"
        if not self.run.kept_pace:
            return (
                f"the client achieved {self.run.achieved_rate:,.0f}/s "
                f"(requests late by up to {max(self.run.late_ms) / 1000:.1f} s)"
            )
        if self.p99_ms > LAG_LIMIT.total_seconds() * 1000:
            return f"lag p99 {self.p99_ms:,.0f} ms"
        return ""

    @property
    def passed(self) -> bool:
        return not self.failure

    @property
    def p50_ms(self) -> float:
        return percentile(self.lags_ms, 0.5) if self.lags_ms else float("inf")

    @property
    def p99_ms(self) -> float:
        return percentile(self.lags_ms, 0.99) if self.lags_ms else float("inf")

    def as_json(self) -> dict[str, object]:
        return {
            "rate": self.rate,
            "seconds": self.seconds,
            "passed": self.passed,
            "failure": self.failure,
            "sent": self.run.sent,
            "achieved_rate": self.run.achieved_rate,
            "client_cpu_seconds": self.run.cpu_seconds,
            "lag_p50_ms": self.p50_ms if self.lags_ms else None,
            "lag_p99_ms": self.p99_ms if self.lags_ms else None,
        }

    def summary(self) -> str:
        verdict = "ok" if self.passed else f"failed: {self.failure}"
        return f"{self.rate:,.0f}/s × {self.seconds:g} s {verdict}"


@dataclass(frozen=True)
class SustainedIngest:
    steps: list[Step]
    confirmed: Step | None  # the long step at the highest rate that passed
    lowest_failure: Step | None
    max_rate: float  # the search's cap

    def detail(self) -> str:
        parts = []
        if self.confirmed is not None:
            run = self.confirmed.run
            parts.append(
                f"held {self.confirmed.seconds:g} s: lag p50 {self.confirmed.p50_ms:.0f} ms, "
                f"p99 {self.confirmed.p99_ms:.0f} ms; client sent {run.achieved_rate:,.0f}/s "
                f"using {run.cpu_seconds / max(run.span_seconds, 1e-9):.0%} of a core"
            )
        else:
            parts.append("no rate held for the confirmation step")
        if self.lowest_failure is not None:
            parts.append(
                f"failed at {self.lowest_failure.rate:,.0f}/s ({self.lowest_failure.failure})"
            )
        else:
            parts.append(f"no step failed up to the search's cap of {self.max_rate:,.0f}/s")
        parts.append("steps: " + ", ".join(step.summary() for step in self.steps))
        return "; ".join(parts)


def _late_count(system: System, *, after_id: int, cutoff: datetime) -> int:
    """Tickets past `after_id` created before `cutoff` whose event the worker has not handled."""
    with system.db() as db:
        return int(
            db.scalar(
                select(func.count())
                .select_from(Ticket)
                .join(OutboxEvent, OutboxEvent.ticket_id == Ticket.id)
                .outerjoin(ProcessedEvent, ProcessedEvent.event_id == OutboxEvent.event_id)
                .where(
                    Ticket.id > after_id,
                    Ticket.created_at < cutoff,
                    OutboxEvent.event_type == "ticket.created",
                    ProcessedEvent.event_id.is_(None),
                )
            )
            or 0
        )


def wait_for_worker(system: System, *, after_id: int, timeout: float = 300) -> None:
    """Until the worker has handled the `ticket.created` event of every ticket past `after_id`."""
    wait_until(
        lambda: _late_count(system, after_id=after_id, cutoff=utcnow()) == 0,
        timeout=timeout,
        interval=0.25,
        what="the worker to handle every ticket.created event",
    )


def _lags_ms(system: System, *, first_id: int, last_id: int) -> list[float]:
    with system.db() as db:
        rows = db.execute(
            select(Ticket.created_at, ProcessedEvent.processed_at)
            .join(OutboxEvent, OutboxEvent.ticket_id == Ticket.id)
            .join(ProcessedEvent, ProcessedEvent.event_id == OutboxEvent.event_id)
            .where(
                Ticket.id > first_id,
                Ticket.id <= last_id,
                OutboxEvent.event_type == "ticket.created",
            )
        ).all()
    return [(processed - created).total_seconds() * 1000 for created, processed in rows]


def _max_ticket_id(system: System) -> int:
    with system.db() as db:
        return int(db.scalar(select(func.max(Ticket.id))) or 0)


def run_step(system: System, *, rate: float, seconds: float) -> Step:
    """`rate` creations a second for `seconds` (less when the lag is already lost)."""
    first_id = _max_ticket_id(system)
    client = PacedClient(
        system.api.base_url,
        system.keys["agent"],
        rate=rate,
        seconds=seconds,
        connections=CONNECTIONS,
    )
    allowed_late = max(1, int(0.01 * rate * seconds))
    stopped_because = ""
    started = time.monotonic()
    while client.running():
        time.sleep(0.5)
        late = _late_count(system, after_id=first_id, cutoff=utcnow() - LAG_LIMIT)
        if late > allowed_late and not stopped_because:
            stopped_because = (
                f"stopped after {time.monotonic() - started:.0f} s: {late} events over 1 s "
                "late, > 1 % of the step"
            )
            client.stop()
    run = client.finish()
    wait_for_worker(system, after_id=first_id)
    lags = _lags_ms(system, first_id=first_id, last_id=max(run.ids, default=first_id))
    return Step(rate=rate, seconds=seconds, run=run, lags_ms=lags, stopped_because=stopped_because)


def _rounded(rate: float) -> float:
    return float(max(10, round(rate / 10) * 10))


def find_sustained_rate(system: System, plan: IngestPlan) -> SustainedIngest:
    """Search for the highest rate that passes, then confirm it with a long step."""
    steps: list[Step] = []
    highest_pass: Step | None = None
    lowest_failure: Step | None = None

    def probe(rate: float, seconds: float) -> Step:
        nonlocal highest_pass, lowest_failure
        step = run_step(system, rate=rate, seconds=seconds)
        steps.append(step)
        if step.passed and (highest_pass is None or step.rate > highest_pass.rate):
            highest_pass = step
        if not step.passed and (lowest_failure is None or step.rate <= lowest_failure.rate):
            lowest_failure = step
        return step

    rate = plan.start_rate
    for _ in range(plan.probes):
        probe(rate, plan.probe_seconds)
        if highest_pass is not None and lowest_failure is not None:
            if lowest_failure.rate - highest_pass.rate <= plan.resolution * highest_pass.rate:
                break
            rate = _rounded((highest_pass.rate + lowest_failure.rate) / 2)
            if rate in (highest_pass.rate, lowest_failure.rate):
                break
        elif highest_pass is not None:
            if highest_pass.rate >= plan.max_rate:
                break
            rate = min(plan.max_rate, highest_pass.rate * 2)
        else:
            assert lowest_failure is not None
            if lowest_failure.rate <= plan.min_rate:
                break
            rate = max(plan.min_rate, _rounded(lowest_failure.rate / 2))

    confirmed = None
    candidate = highest_pass.rate if highest_pass is not None else None
    for _ in range(plan.confirmations):
        if candidate is None:
            break
        step = probe(candidate, plan.confirm_seconds)
        if step.passed:
            confirmed = step
            break
        candidate = _rounded(candidate * 0.8) if candidate > plan.min_rate else None
    return SustainedIngest(
        steps=steps, confirmed=confirmed, lowest_failure=lowest_failure, max_rate=plan.max_rate
    )
