"""The notifier's store on the test database: a delivery recorded once per (endpoint, event)
and claimed as it is recorded; outcomes stored in batches, one refused outcome not holding
back the others."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from services.notifier.sender import DeliveryJob
from services.notifier.store import DeliveryStore
from shared.clock import utcnow
from shared.models import DeliveryStatus, NotifiedEvent, WebhookEndpoint
from shared.settings import get_settings
from shared.unit_of_work import transaction
from tests.notifier.support import (
    attempt_codes,
    create_endpoint,
    delivery,
    endpoint,
    new_event_type,
    outcome,
    refused_outcome,
    stream_events,
)


@pytest.fixture
def store(seeded_database: str) -> DeliveryStore:
    return DeliveryStore(get_settings())


def _new_jobs(store: DeliveryStore, *, count: int) -> tuple[int, list[DeliveryJob]]:
    """A new endpoint and `count` deliveries recorded for it."""
    event_type = new_event_type()
    endpoint_id = create_endpoint(event_type=event_type)
    jobs = store.record_new_deliveries(stream_events(event_type, count))
    return endpoint_id, [job for job in jobs if job.endpoint_id == endpoint_id]


def test_each_event_is_recorded_once_per_subscribed_endpoint_and_claimed(
    store: DeliveryStore,
) -> None:
    event_type = new_event_type()
    endpoints = {create_endpoint(event_type=event_type) for _ in range(2)}
    events = stream_events(event_type, 3)

    jobs = [job for job in store.record_new_deliveries(events) if job.endpoint_id in endpoints]
    again = store.record_new_deliveries(events)  # the same entries read a second time

    assert len(jobs) == 6
    assert [job.event_id for job in jobs[::2]] == [event.event_id for event in events]
    assert {job.attempt_number for job in jobs} == {1}
    assert not [job for job in again if job.endpoint_id in endpoints]
    for job in jobs:
        recorded = delivery(job.delivery_id)
        assert recorded.status == DeliveryStatus.PENDING
        assert recorded.claimed_until is not None
        assert recorded.claimed_until > utcnow()


def _notified(event_ids: list[str]) -> set[str]:
    with transaction(write=False) as session:
        return set(
            session.scalars(
                select(NotifiedEvent.event_id).where(NotifiedEvent.event_id.in_(event_ids))
            )
        )


def _subscriptions(endpoint_id: int) -> list[str]:
    with transaction(write=False) as session:
        endpoint = session.get(WebhookEndpoint, endpoint_id)
        assert endpoint is not None
        return list(endpoint.event_types)


def test_every_event_read_is_recorded_as_notified_even_when_no_endpoint_wants_it(
    store: DeliveryStore,
) -> None:
    """The notifier's acknowledgement, which the outbox reconciler looks for."""
    events = stream_events(new_event_type(), 3)
    ids = {event.event_id for event in events}
    # No endpoint subscribes to this type by name; one that takes every type may exist (the
    # database is shared with other tests), and only those get deliveries.
    catch_all = {job.endpoint_id for job in store.record_new_deliveries(events)}
    assert all(not _subscriptions(endpoint_id) for endpoint_id in catch_all)
    assert store.record_new_deliveries(events) == []  # a copy read again changes nothing
    assert _notified(list(ids)) == ids


def test_notified_events_past_their_keeping_are_forgotten(store: DeliveryStore) -> None:
    old, recent = stream_events(new_event_type(), 2)
    store.record_new_deliveries([old])
    store.forget_notified(before=utcnow())
    store.record_new_deliveries([recent])
    store.forget_notified(before=utcnow() - timedelta(hours=1))
    assert _notified([old.event_id, recent.event_id]) == {recent.event_id}


def test_an_outcome_the_database_refuses_does_not_hold_back_the_others(
    store: DeliveryStore,
) -> None:
    _endpoint_id, jobs = _new_jobs(store, count=3)
    refused = refused_outcome(jobs[1])

    refusals = store.record_outcomes([outcome(jobs[0]), refused, outcome(jobs[2])])

    assert [refusal.outcome for refusal in refusals] == [refused]
    for job in (jobs[0], jobs[2]):
        assert delivery(job.delivery_id).status == DeliveryStatus.SUCCEEDED
        assert attempt_codes(job.delivery_id) == [200]
    assert delivery(jobs[1].delivery_id).status == DeliveryStatus.PENDING
    assert attempt_codes(jobs[1].delivery_id) == []


def test_a_batch_the_database_stores_none_of_is_an_error_not_a_refusal(
    store: DeliveryStore,
) -> None:
    _endpoint_id, jobs = _new_jobs(store, count=2)
    with pytest.raises(SQLAlchemyError):
        store.record_outcomes([refused_outcome(job) for job in jobs])
    assert all(attempt_codes(job.delivery_id) == [] for job in jobs)


def test_a_failure_is_rescheduled_and_a_success_ends_the_failing_run(
    store: DeliveryStore,
) -> None:
    endpoint_id, [job] = _new_jobs(store, count=1)

    store.record_outcomes([outcome(job, status_code=500)])
    failed = delivery(job.delivery_id)
    assert failed.status == DeliveryStatus.PENDING
    assert failed.claimed_until is None
    assert failed.next_attempt_at is not None
    assert failed.next_attempt_at > utcnow()
    assert endpoint(endpoint_id).failing_since is not None

    store.record_outcomes([outcome(replace(job, attempt_number=2))])
    assert delivery(job.delivery_id).status == DeliveryStatus.SUCCEEDED
    assert attempt_codes(job.delivery_id) == [500, 200]
    assert endpoint(endpoint_id).failing_since is None


def test_410_gone_disables_the_endpoint_with_the_reason(store: DeliveryStore) -> None:
    endpoint_id, [job] = _new_jobs(store, count=1)
    store.record_outcomes([outcome(job, status_code=410)])
    gone = endpoint(endpoint_id)
    assert not gone.enabled
    assert gone.disabled_reason is not None
    assert "410" in gone.disabled_reason
    assert gone.disabled_at is not None


def _claim_due_among(store: DeliveryStore, ids: set[int]) -> list[DeliveryJob]:
    """Claim the due deliveries among `ids` (others' claims are let go at once)."""
    claimed = store.claim_due(limit=10_000)
    store.release_claims([job.delivery_id for job in claimed if job.delivery_id not in ids])
    return [job for job in claimed if job.delivery_id in ids]


def test_released_deliveries_can_be_claimed_at_once(store: DeliveryStore) -> None:
    _endpoint_id, jobs = _new_jobs(store, count=2)
    ids = {job.delivery_id for job in jobs}
    assert _claim_due_among(store, ids) == [], "held since they were recorded"

    store.release_claims(sorted(ids))

    claimed = _claim_due_among(store, ids)
    assert {job.delivery_id for job in claimed} == ids
    assert {job.attempt_number for job in claimed} == {1}
    assert all(job.secrets and job.url for job in claimed)


def test_claims_on_a_backlog_larger_than_a_statement_takes_are_renewed(
    store: DeliveryStore,
) -> None:
    _endpoint_id, [job] = _new_jobs(store, count=1)
    before = delivery(job.delivery_id).claimed_until
    # Ids past any other test's rows; more than a statement takes parameters (PostgreSQL:
    # 65,535; SQLite: 32,766 unless built with more).
    far = list(range(10**9, 10**9 + 70_000))

    store.renew_claims([*far, job.delivery_id])

    renewed = delivery(job.delivery_id).claimed_until
    assert before is not None
    assert renewed is not None
    assert renewed >= before
