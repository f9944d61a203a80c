"""After the traffic: wait for the system to drain, then compare what it acknowledged and
published with what the database, the stream and the receivers hold."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from shared.event_types import WORKER_ANNOUNCEMENTS
from shared.models import (
    DeliveryStatus,
    OutboxEvent,
    ProcessedEvent,
    Status,
    Ticket,
    TicketComment,
    TicketHistory,
    WebhookDelivery,
    WebhookEndpoint,
)
from shared.search_index import rebuild_index
from shared.sla_timers import recompute_ticket_sla
from soak.traffic import Ledger

STREAM = "events"
GROUP = "notifier"


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    result: str
    detail: str = ""


# Drain ------------------------------------------------------------------------------------


def backlog(engine: Engine, redis: Redis) -> dict[str, int]:
    """Everything still on its way: zero everywhere means drained."""
    with Session(engine) as db:
        unpublished = db.scalar(select(func.count()).where(OutboxEvent.published_at.is_(None)))
        unhandled = db.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .outerjoin(ProcessedEvent, ProcessedEvent.event_id == OutboxEvent.event_id)
            .where(ProcessedEvent.event_id.is_(None))
        )
        pending = db.scalar(
            select(func.count()).where(WebhookDelivery.status == DeliveryStatus.PENDING)
        )
    left = {
        "unpublished outbox rows": int(unpublished or 0),
        "events the worker has not handled": int(unhandled or 0),
        "pending webhook deliveries": int(pending or 0),
    }
    try:
        group = next(g for g in redis.xinfo_groups(STREAM) if g["name"] == GROUP.encode())
        left["stream entries not acknowledged"] = int(group["pending"])
        last_id = redis.xinfo_stream(STREAM)["last-generated-id"]
        left["stream entries not read"] = int(group["last-delivered-id"] != last_id)
        left["Celery tasks queued"] = int(redis.llen("celery"))
        left["Celery tasks unacknowledged"] = int(redis.hlen("unacked"))
    except (RedisError, StopIteration) as exc:
        left[f"redis: {exc}"] = 1
    return left


def wait_for_drain(engine: Engine, redis: Redis, *, timeout: float) -> tuple[float, dict[str, int]]:
    started = time.monotonic()
    while True:
        left = backlog(engine, redis)
        if not any(left.values()) or time.monotonic() - started > timeout:
            return time.monotonic() - started, left
        time.sleep(1)


# Checks -----------------------------------------------------------------------------------


def _few(items: list[Any], n: int = 8) -> str:
    return ", ".join(str(item) for item in items[:n]) + (" …" if len(items) > n else "")


def acknowledged_writes(engine: Engine, ledger: Ledger) -> list[Check]:
    with Session(engine) as db:
        tickets = set(db.scalars(select(Ticket.id).where(Ticket.id.in_(ledger.tickets))))
        created_rows = set(
            db.scalars(
                select(TicketHistory.ticket_id).where(
                    TicketHistory.ticket_id.in_(ledger.tickets), TicketHistory.field == "created"
                )
            )
        )
        created_events = set(
            db.scalars(
                select(OutboxEvent.ticket_id).where(
                    OutboxEvent.ticket_id.in_(ledger.tickets),
                    OutboxEvent.event_type == "ticket.created",
                )
            )
        )
        # .all(): a Result has keys(), so dict() would take it for a mapping.
        comments = dict(
            db.execute(
                select(TicketComment.id, TicketComment.ticket_id).where(
                    TicketComment.id.in_(ledger.comments)
                )
            )
            .tuples()
            .all()
        )
        comment_rows = set(
            db.scalars(
                select(TicketHistory.new_value).where(
                    TicketHistory.field == "comment",
                    TicketHistory.ticket_id.in_(set(ledger.comments.values())),
                )
            )
        )
        history = {
            (ticket_id, field, new_value)
            for ticket_id, field, new_value in db.execute(
                select(TicketHistory.ticket_id, TicketHistory.field, TicketHistory.new_value).where(
                    TicketHistory.ticket_id.in_({change[0] for change in ledger.changes})
                )
            )
        }
    missing_tickets = sorted(ledger.tickets - tickets)
    without_history = sorted(tickets - created_rows)
    without_event = sorted(tickets - created_events)
    missing_comments = sorted(
        comment_id
        for comment_id, ticket_id in ledger.comments.items()
        if comments.get(comment_id) != ticket_id or str(comment_id) not in comment_rows
    )
    missing_changes = [change for change in ledger.changes if change not in history]
    return [
        Check(
            "every ticket that got a 2xx exists, with its history row and ticket.created event",
            not (missing_tickets or without_history or without_event),
            f"{len(tickets)}/{len(ledger.tickets)}",
            _few(
                [f"missing {i}" for i in missing_tickets]
                + [f"no history {i}" for i in without_history]
                + [f"no event {i}" for i in without_event]
            ),
        ),
        Check(
            "every comment that got a 2xx exists on its ticket, with its history row",
            not missing_comments,
            f"{len(ledger.comments) - len(missing_comments)}/{len(ledger.comments)}",
            _few(missing_comments),
        ),
        Check(
            "every change that got a 2xx (status, assignee, priority, text) is in the history",
            not missing_changes,
            f"{len(ledger.changes) - len(missing_changes)}/{len(ledger.changes)}",
            _few(missing_changes, 4),
        ),
    ]


def outbox_published(engine: Engine) -> Check:
    with Session(engine) as db:
        total = int(db.scalar(select(func.count()).select_from(OutboxEvent)) or 0)
        unpublished = list(
            db.scalars(select(OutboxEvent.event_id).where(OutboxEvent.published_at.is_(None)))
        )
        unhandled = list(
            db.scalars(
                select(OutboxEvent.event_id)
                .outerjoin(ProcessedEvent, ProcessedEvent.event_id == OutboxEvent.event_id)
                .where(ProcessedEvent.event_id.is_(None))
            )
        )
    return Check(
        "every outbox row is published, and handled by the worker",
        not unpublished and not unhandled,
        f"{total - len(unpublished)}/{total} published, {total - len(unhandled)}/{total} handled",
        _few([f"unpublished {e}" for e in unpublished] + [f"unhandled {e}" for e in unhandled]),
    )


def webhooks_delivered(
    engine: Engine, reports: dict[int, dict[str, Any]], names: dict[int, str]
) -> list[Check]:
    """`reports`: each endpoint id's receiver report (soak/receiver.py)."""
    checks = []
    with Session(engine) as db:
        endpoints = {e.id: e for e in db.scalars(select(WebhookEndpoint))}
        events = db.execute(select(OutboxEvent.event_id, OutboxEvent.event_type,
                                   OutboxEvent.created_at)).tuples().all()  # fmt: skip
        statuses = Counter(
            (endpoint_id, status)
            for endpoint_id, status in db.execute(
                select(WebhookDelivery.endpoint_id, WebhookDelivery.status)
            )
        )
    for endpoint_id, report in reports.items():
        endpoint = endpoints[endpoint_id]
        wanted = [
            event_id
            for event_id, event_type, created_at in events
            if endpoint.wants(event_type) and created_at >= endpoint.created_at
        ]
        accepted: dict[str, int] = report["accepted"]
        missing = [event_id for event_id in wanted if not accepted.get(event_id)]
        duplicates = sum(count - 1 for count in accepted.values())
        dead = statuses[(endpoint_id, DeliveryStatus.FAILED)]
        checks.append(
            Check(
                f"every event reached {names[endpoint_id]} once or more, signature valid",
                not missing and not report["invalid"] and not dead and endpoint.enabled,
                f"{len(wanted) - len(missing)}/{len(wanted)}",
                "; ".join(
                    part
                    for part in (
                        f"{duplicates} duplicates",
                        f"{report['refused']} answered 500 on purpose" if report["refused"] else "",
                        f"{report['cut_off']} requests cut off" if report["cut_off"] else "",
                        f"{len(report['invalid'])} invalid signatures: {_few(report['invalid'], 3)}"
                        if report["invalid"]
                        else "",
                        f"{dead} deliveries dead" if dead else "",
                        "" if endpoint.enabled else f"disabled: {endpoint.disabled_reason}",
                        f"missing: {_few(missing, 4)}" if missing else "",
                    )
                    if part
                ),
            )
        )
    return checks


def _naive(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.replace(tzinfo=None)


def sla_matches(engine: Engine, *, now: datetime) -> Check:
    """Recompute every ticket's due times from its rows (shared/sla_timers.py) in a transaction
    that is rolled back, and compare with the stored ones. A ticket paused right now has due
    times that move with the clock: it is recomputed as of the worker's last handling of one of
    its events, and may differ by a second."""
    mismatched = []
    with Session(engine) as db:
        paused_statuses = set(db.scalars(select(Status.id).where(Status.pauses_sla.is_(True))))
        stored = {
            row.id: (
                row.status_id,
                _naive(row.first_response_due_at),
                _naive(row.resolution_due_at),
            )  # fmt: skip
            for row in db.execute(
                select(
                    Ticket.id,
                    Ticket.status_id,
                    Ticket.first_response_due_at,
                    Ticket.resolution_due_at,
                )  # fmt: skip
            )
        }
        last_handled = dict(
            db.execute(
                select(OutboxEvent.ticket_id, func.max(ProcessedEvent.processed_at))
                .join(ProcessedEvent, ProcessedEvent.event_id == OutboxEvent.event_id)
                # when the worker last computed the timers: its own announcements compute none
                .where(OutboxEvent.event_type.not_in(WORKER_ANNOUNCEMENTS))
                .group_by(OutboxEvent.ticket_id)
            )
            .tuples()
            .all()
        )
        for ticket_id, (status_id, first_due, resolution_due) in stored.items():
            paused = status_id in paused_statuses
            as_of = last_handled.get(ticket_id) if paused else now
            fresh = recompute_ticket_sla(db, ticket_id=ticket_id, now=as_of or now)
            assert fresh is not None
            tolerance = timedelta(seconds=2 if paused else 0)
            for stored_due, fresh_due in (
                (first_due, _naive(fresh.first_response_due_at)),
                (resolution_due, _naive(fresh.resolution_due_at)),
            ):
                if stored_due is None or fresh_due is None:
                    if stored_due != fresh_due:
                        mismatched.append(
                            f"{ticket_id}: stored {stored_due}, recomputed {fresh_due}"
                        )
                elif abs(stored_due - fresh_due) > tolerance:
                    mismatched.append(f"{ticket_id}: stored {stored_due}, recomputed {fresh_due}")
        db.rollback()
    return Check(
        "every ticket's SLA due times match a recomputation from its rows",
        not mismatched,
        f"{len(stored) - len(mismatched)}/{len(stored)}",
        _few(mismatched, 3),
    )


def _index_rows(db: Session) -> dict[int, tuple[Any, ...]]:
    key = "ticket_id" if db.get_bind().dialect.name == "postgresql" else "rowid"
    rows = db.execute(text(f"SELECT {key}, title, description, comments, tags FROM ticket_search"))
    return {int(row[0]): tuple(row[1:]) for row in rows}


def search_matches(engine: Engine) -> Check:
    """The search index as stored, against the index rebuilt from the tables
    (shared/search_index.py) in a transaction that is rolled back."""
    with Session(engine) as db:
        stored = _index_rows(db)
        for _done in rebuild_index(db):
            pass
        rebuilt = _index_rows(db)
        db.rollback()
    differing = sorted(
        ticket_id
        for ticket_id in stored.keys() | rebuilt.keys()
        if stored.get(ticket_id) != rebuilt.get(ticket_id)
    )
    return Check(
        "every ticket's search entry matches the index rebuilt from the tables",
        not differing,
        f"{len(rebuilt) - len(differing)}/{len(rebuilt)}",
        _few(
            [
                f"{i}: stored {str(stored.get(i))[:80]}, rebuilt {str(rebuilt.get(i))[:80]}"
                for i in differing
            ],
            2,
        ),
    )
