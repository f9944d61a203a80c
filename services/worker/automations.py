"""The automations scan: each active automation, in order, over the tickets its time
conditions hold for, one short transaction per ticket."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from shared.automations import (
    AutomationRecord,
    Outcome,
    act_on_ticket,
    active_automations,
    candidates,
    due_candidates,
)
from shared.events import wrote_events
from shared.unit_of_work import transaction

logger = logging.getLogger(__name__)

# Tickets read per page of candidates (ids and anchor times only).
PAGE = 200


def scan_automations(
    *, now: datetime, limit: int, published: Callable[[], object]
) -> Counter[Outcome]:
    """Run every active automation on at most `limit` tickets each; `published` is called
    after each page of tickets whose commits wrote events (the relay publishes what a crash
    left)."""
    with transaction(write=False) as session:
        automations = active_automations(session)
    outcomes: Counter[Outcome] = Counter()
    for automation in automations:
        outcomes += _scan_one(automation, now=now, limit=limit, published=published)
    return outcomes


def _scan_one(
    automation: AutomationRecord, *, now: datetime, limit: int, published: Callable[[], object]
) -> Counter[Outcome]:
    outcomes: Counter[Outcome] = Counter()
    after_id = 0
    acted = 0
    wrote_any = False
    while acted < limit:
        with transaction(write=False) as session:
            page = candidates(session, automation, now=now, after_id=after_id, limit=PAGE)
            due = due_candidates(session, automation, page=page, now=now)
        for candidate in due:
            with transaction() as session:
                outcome = act_on_ticket(session, automation, candidate=candidate, now=now)
                wrote = wrote_events(session)
            wrote_any |= wrote
            outcomes[outcome] += 1
            if outcome in ("acted", "failed"):
                acted += 1
                if acted >= limit:
                    break
        if wrote_any:
            published()
            wrote_any = False
        if len(page) < PAGE:
            break
        after_id = page[-1].ticket_id
    if outcomes:
        logger.info("automation %s: %s", automation.id, dict(outcomes))
    return outcomes
