"""The beat task that forgets expired Idempotency-Key answers, called as Celery runs it, on the
test database: keys written through the API, then aged."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.worker.tasks import prune_idempotency_keys
from shared import tasks
from shared.celery_app import get_celery
from shared.clock import utcnow
from shared.models import IdempotencyKey
from shared.settings import get_settings
from shared.unit_of_work import Commit, on_commit, transaction


def _post_with_keys(client: httpx.Client, count: int) -> list[str]:
    keys = [f"prune-{uuid.uuid4().hex}" for _ in range(count)]
    for key in keys:
        body = {"title": f"Retry {key}", "description": "Sent twice", "category_id": 1}
        response = client.post("/tickets", json=body, headers={"Idempotency-Key": key})
        assert response.status_code == 201, response.text
    return keys


def _age(keys: list[str], *, by: timedelta) -> None:
    with transaction() as session:
        session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.key.in_(keys))
            .values(created_at=utcnow() - by)
        )


def _stored(db: Session, keys: list[str]) -> set[str]:
    return set(db.scalars(select(IdempotencyKey.key).where(IdempotencyKey.key.in_(keys))))


def test_expired_keys_are_deleted_in_batches_and_live_ones_kept(
    customer: httpx.Client, db: Session
) -> None:
    ttl = timedelta(hours=get_settings().idempotency_ttl_hours)
    expired = _post_with_keys(customer, 5)
    almost = _post_with_keys(customer, 1)
    fresh = _post_with_keys(customer, 1)
    _age(expired, by=ttl + timedelta(minutes=1))
    _age(almost, by=ttl - timedelta(minutes=5))
    commits: list[Commit] = []
    stop_hearing = on_commit(commits.append)
    try:
        pruned = prune_idempotency_keys(batch_rows=2)
    finally:
        stop_hearing()

    assert _stored(db, expired) == set()
    assert _stored(db, almost + fresh) == set(almost + fresh)
    assert pruned >= len(expired)  # none of the other tests' keys is that old, but be lenient
    # Two rows a transaction: full batches until one comes back short.
    assert len(commits) == pruned // 2 + 1


def test_nothing_expired_is_one_short_transaction(customer: httpx.Client, db: Session) -> None:
    fresh = _post_with_keys(customer, 2)
    prune_idempotency_keys()  # whatever other tests left expired
    commits: list[Commit] = []
    stop_hearing = on_commit(commits.append)
    try:
        assert prune_idempotency_keys() == 0
    finally:
        stop_hearing()
    assert len(commits) == 1
    assert _stored(db, fresh) == set(fresh)


def test_beat_runs_the_pruning_every_hour() -> None:
    schedule = get_celery().conf.beat_schedule
    [entry] = [e for e in schedule.values() if e["task"] == tasks.PRUNE_IDEMPOTENCY_KEYS]
    assert entry["schedule"] == 3600.0
    assert tasks.PRUNE_IDEMPOTENCY_KEYS in get_celery().tasks
