"""Forgetting Idempotency-Key answers once no retry may replay them any more."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from shared.models import IdempotencyKey

# Rows deleted per transaction: SQLite's write lock, which the API waits for too, is held for
# a few milliseconds at a time however many keys expired since the last run.
PRUNE_BATCH_ROWS = 1000


def prune_expired_keys(
    session: Session, *, now: datetime, kept: timedelta, limit: int = PRUNE_BATCH_ROWS
) -> int:
    """Delete up to `limit` keys older than `kept`, oldest first; returns how many went.

    The API already ignores such a key (services/api/idempotency.py), so deleting it changes
    no answer."""
    oldest = (
        select(IdempotencyKey.id)
        .where(IdempotencyKey.created_at < now - kept)
        .order_by(IdempotencyKey.created_at)
        .limit(limit)
    )
    result = session.execute(delete(IdempotencyKey).where(IdempotencyKey.id.in_(oldest)))
    return int(getattr(result, "rowcount", 0) or 0)
