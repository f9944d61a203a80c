"""Generated history for benchmarks and demos: tickets with comments and history, bulk-inserted.

The tickets read like a helpdesk's year: subjects per category, customers who write more than
once, most tickets resolved or closed, priorities skewed to Medium, a few tags each, comments and
history rows that follow each ticket's life. It is an import, not live traffic: no outbox events
are written (no webhook fires for a year of history); the search index and the statistics
snapshot are rebuilt at the end.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from shared.clock import utcnow
from shared.models import (
    Base,
    Category,
    PriorityLevel,
    Role,
    SlaStatus,
    Status,
    Tag,
    Ticket,
    TicketComment,
    TicketHistory,
    User,
    ticket_tags,
)
from shared.search_index import rebuild_index
from shared.settings import get_settings
from shared.sla import targets
from shared.stats import refresh_snapshot

SUBJECTS = {
    "Account Access": [
        (
            "Cannot log in after {thing} change",
            "Since the {thing} change I get 'invalid credentials'.",
        ),
        (
            "Two-factor code not accepted",
            "The {thing} app shows a code but the login page rejects it.",
        ),
        ("Account locked", "My account was locked after I mistyped my {thing} a few times."),
        (
            "Password reset email never arrives",
            "I requested a reset twice; nothing in spam either.",
        ),
    ],
    "Billing & Payments": [
        ("Charged twice for {thing}", "My card statement shows two charges for the {thing} plan."),
        ("Invoice missing VAT number", "The {thing} invoice does not show our company VAT number."),
        ("Refund for cancelled {thing}", "I cancelled the {thing} subscription but was billed."),
        ("Cannot update credit card", "The billing page errors when I save a new card."),
    ],
    "Technical Support": [
        ("{thing} is very slow", "Loading the {thing} takes over a minute since this morning."),
        ("Export to CSV fails", "Exporting the {thing} report stops with an error at 50%."),
        ("Sync error on mobile", "The mobile app says 'sync failed' for the {thing} list."),
        ("API returns 500 on {thing}", "Our integration gets HTTP 500 from the {thing} endpoint."),
    ],
    "Product Features": [
        (
            "How do I share a {thing}?",
            "I want to share a {thing} with my team but cannot find how.",
        ),
        ("Feature request: dark mode for {thing}", "Please add a dark theme to the {thing} view."),
        ("Bulk edit {thing}", "Is there a way to edit many {thing} entries at once?"),
    ],
    "Security Issues": [
        ("Suspicious login from unknown location", "I got an alert about a login from abroad."),
        ("Phishing email pretending to be you", "We received an email asking for our {thing}."),
        ("Leaked API key", "One of our API keys for the {thing} was pushed to a public repo."),
    ],
    "General Support": [
        ("Question about {thing} limits", "What are the limits on the {thing} for our plan?"),
        ("Change company name on {thing}", "We renamed the company; please update the {thing}."),
        ("Where is the {thing} documentation?", "The link to the {thing} docs is broken."),
    ],
}
THINGS = [
    "dashboard", "password", "authenticator", "premium", "annual", "reports", "calendar",
    "project", "workspace", "invoices", "contacts", "mailbox", "analytics", "team", "storage",
]  # fmt: skip
REPLIES = [
    "Thanks for reporting this, I am looking into it now.",
    "Could you send a screenshot of the error and the time it happened?",
    "I have reproduced the problem and escalated it to engineering.",
    "A fix has been deployed; can you confirm it works for you now?",
    "I reset the setting on our side, please try again.",
    "It works now, thank you for the quick help!",
    "Still failing for me after clearing the cache.",
    "Closing this as resolved; reply if it comes back.",
]
INTERNAL_NOTES = [
    "Customer is on the enterprise plan, handle with care.",
    "Same root cause as last week's incident.",
    "Waiting for the payment provider's answer.",
]
TAGS = [
    "login", "billing", "refund", "mobile", "api", "export", "performance", "security", "2fa",
    "invoice", "feature-request", "docs", "urgent", "vip", "bug",
]  # fmt: skip

CATEGORY_WEIGHTS = [18, 20, 30, 15, 5, 12]
PRIORITY_WEIGHTS = [5, 20, 50, 25]


@dataclass
class Lookups:
    categories: list[Category]
    priorities: list[PriorityLevel]
    statuses: list[Status]
    agents: list[int]
    customers: list[int]
    tags: dict[str, int] = field(default_factory=dict)


@dataclass
class Batch:
    tickets: list[dict[str, Any]] = field(default_factory=list)
    tags: list[dict[str, Any]] = field(default_factory=list)
    comments: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)


def _ensure_customers(session: Session, count: int) -> None:
    existing = session.scalar(select(func.count()).where(User.role == Role.CUSTOMER)) or 0
    if existing >= count:
        return
    offset = session.scalar(select(func.count()).select_from(User)) or 0
    now = utcnow()
    session.execute(
        insert(User),
        [
            {
                "name": f"Customer {n}",
                "email": f"customer{n}@generated.example.com",
                "role": Role.CUSTOMER,
                "active": True,
                "created_at": now,
                "updated_at": now,
            }
            for n in range(offset, offset + count - existing)
        ],
    )


def _ensure_tags(session: Session) -> dict[str, int]:
    known = set(session.scalars(select(Tag.name)))
    missing = [{"name": name} for name in TAGS if name not in known]
    if missing:
        session.execute(insert(Tag), missing)
    return {tag.name: tag.id for tag in session.scalars(select(Tag))}


def _lookups(session: Session, *, customers: int) -> Lookups:
    _ensure_customers(session, customers)
    users = session.execute(select(User.id, User.role).where(User.active)).all()
    agents = [user_id for user_id, role in users if role.is_staff]
    categories = list(session.scalars(select(Category).order_by(Category.id)))
    priorities = list(session.scalars(select(PriorityLevel).order_by(PriorityLevel.rank)))
    statuses = list(session.scalars(select(Status).order_by(Status.position)))
    if not (agents and categories and priorities and statuses):
        raise ValueError("load the reference data first (ticketing seed)")
    return Lookups(
        categories=categories,
        priorities=priorities,
        statuses=statuses,
        agents=agents,
        customers=[user_id for user_id, role in users if role is Role.CUSTOMER],
        tags=_ensure_tags(session),
    )


def _text(rng: random.Random, category: Category) -> tuple[str, str]:
    subjects = SUBJECTS.get(category.name) or [s for group in SUBJECTS.values() for s in group]
    title, description = rng.choice(subjects)
    thing = rng.choice(THINGS)
    detail = rng.choice(REPLIES[:3]) if rng.random() < 0.2 else ""
    return title.format(thing=thing)[:200], f"{description.format(thing=thing)} {detail}".strip()


def _ticket(
    rng: random.Random, lookups: Lookups, ticket_id: int, now: datetime, batch: Batch
) -> None:
    settings = get_settings()
    category = rng.choices(lookups.categories, CATEGORY_WEIGHTS[: len(lookups.categories)])[0]
    priority = rng.choices(lookups.priorities, PRIORITY_WEIGHTS[: len(lookups.priorities)])[0]
    created = now - timedelta(seconds=rng.uniform(600, 365 * 86400))
    age_hours = (now - created).total_seconds() / 3600
    # Old tickets are mostly finished; the last days' are mostly still open.
    finished = rng.random() < min(0.95, age_hours / 72)
    open_statuses = [s for s in lookups.statuses if not s.is_closed]
    closed_statuses = [s for s in lookups.statuses if s.is_closed]
    status = rng.choice(closed_statuses if finished and closed_statuses else open_statuses)
    requester = rng.choice(lookups.customers or lookups.agents)
    assignee = rng.choice(lookups.agents) if finished or rng.random() < 0.6 else None
    sla = targets(
        category_hours=category.sla_hours,
        priority_hours=priority.sla_hours,
        first_response_hours=priority.first_response_hours or settings.default_first_response_hours,
    )
    target_hours = sla.resolution.total_seconds() / 3600
    resolution_due = created + sla.resolution
    first_response_due = created + sla.first_response
    replied = created + timedelta(minutes=rng.expovariate(1 / 90)) if assignee else None
    resolved = created + timedelta(hours=rng.expovariate(1 / target_hours)) if finished else None
    if resolved is not None:
        sla_status = SlaStatus.MET if resolved <= resolution_due else SlaStatus.BREACHED
    else:
        sla_status = SlaStatus.BREACHED if resolution_due < now else SlaStatus.ON_TRACK
    title, description = _text(rng, category)
    last_change = resolved or replied or created
    batch.tickets.append(
        {
            "id": ticket_id,
            "title": title,
            "description": description,
            "requester_id": requester,
            "assignee_id": assignee,
            "category_id": category.id,
            "priority_id": priority.id,
            "status_id": status.id,
            "created_at": created,
            "updated_at": last_change,
            "status_changed_at": resolved or created,
            "first_response_at": replied,
            "resolved_at": resolved,
            "closed_at": resolved if status is closed_statuses[-1] else None,
            "first_response_due_at": first_response_due,
            "resolution_due_at": resolution_due,
            "sla_status": sla_status,
            "sla_breached_at": resolution_due if sla_status is SlaStatus.BREACHED else None,
            "version": 1,
        }
    )
    for tag in rng.sample(sorted(lookups.tags), k=rng.choices([0, 1, 2, 3], [30, 40, 20, 10])[0]):
        batch.tags.append({"ticket_id": ticket_id, "tag_id": lookups.tags[tag]})
    history = batch.history
    history.append(_history(ticket_id, requester, created, "created", None, f"TKT-{ticket_id:03d}"))
    if assignee is not None:
        history.append(
            _history(ticket_id, assignee, replied or created, "assignee", None, str(assignee))
        )
    for n in range(min(8, int(rng.expovariate(1 / 2)))):
        at = created + timedelta(minutes=30 * (n + 1) + rng.uniform(0, 60))
        internal = assignee is not None and rng.random() < 0.15
        author = assignee if internal or (assignee and n % 2 == 0) else requester
        body = rng.choice(INTERNAL_NOTES if internal else REPLIES)
        batch.comments.append(
            {
                "ticket_id": ticket_id,
                "author_id": author,
                "body": body,
                "is_internal": internal,
                "created_at": at,
            }
        )
        history.append(
            _history(ticket_id, author, at, "comment", None, body[:80], internal=internal)
        )
    if status.id != open_statuses[0].id:
        history.append(
            _history(ticket_id, assignee, last_change, "status", open_statuses[0].name, status.name)
        )


def _history(
    ticket_id: int,
    actor: int | None,
    at: datetime,
    field_name: str,
    old: str | None,
    new: str | None,
    *,
    internal: bool = False,
) -> dict[str, Any]:
    return {
        "ticket_id": ticket_id,
        "actor_id": actor,
        "created_at": at,
        "field": field_name,
        "old_value": old,
        "new_value": new,
        "is_internal": internal,
    }


def _flush(session: Session, batch: Batch) -> None:
    tables = Base.metadata.tables
    session.execute(insert(tables[Ticket.__tablename__]), batch.tickets)
    if batch.tags:
        session.execute(insert(ticket_tags), batch.tags)
    if batch.comments:
        session.execute(insert(tables[TicketComment.__tablename__]), batch.comments)
    session.execute(insert(tables[TicketHistory.__tablename__]), batch.history)


def generate(
    session: Session,
    *,
    tickets: int,
    customers: int = 2000,
    seed: int = 7,
    batch_size: int = 5000,
) -> Iterator[int]:
    """Insert `tickets` generated tickets after the existing ones; yields the count done so far."""
    rng = random.Random(seed)
    lookups = _lookups(session, customers=customers)
    first_id = (session.scalar(select(func.max(Ticket.id))) or 0) + 1
    now = utcnow()
    done = 0
    while done < tickets:
        batch = Batch()
        for ticket_id in range(first_id + done, first_id + min(tickets, done + batch_size)):
            _ticket(rng, lookups, ticket_id, now, batch)
        _flush(session, batch)
        done += len(batch.tickets)
        yield done
    _reset_ticket_sequence(session)
    for _ in rebuild_index(session):
        pass
    refresh_snapshot(session, now=utcnow())


def _reset_ticket_sequence(session: Session) -> None:
    """PostgreSQL hands out ticket ids from a sequence that the explicit ids did not advance."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT setval(pg_get_serial_sequence('tickets', 'id'), MAX(id)) FROM tickets")
        )
