"""The notifier's outcome recorder on the test database: what it cannot store holds back
nothing else, and is given up on only after the database refused it while storing others."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from sqlalchemy import update

from services.notifier.app import Notifier
from services.notifier.sender import AttemptOutcome
from services.notifier.store import DeliveryStore
from shared.models import DeliveryStatus, WebhookEndpoint
from shared.settings import get_settings
from shared.unit_of_work import transaction
from tests.notifier.support import (
    attempt_codes,
    create_endpoint,
    delivery,
    new_event_type,
    outcome,
    refused_outcome,
    stream_events,
)


async def _until(condition: object, *, timeout: float) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {condition}"
        await asyncio.sleep(0.05)


def test_the_recorder_stores_the_others_and_gives_up_on_an_outcome_refused_again_and_again(
    seeded_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = get_settings()
    event_type = new_event_type()
    endpoint_id = create_endpoint(event_type=event_type)
    jobs = DeliveryStore(settings).record_new_deliveries(stream_events(event_type, 6))
    refused_job, *good_jobs = [job for job in jobs if job.endpoint_id == endpoint_id]
    stored = []

    async def scenario() -> None:
        notifier = Notifier(settings)
        recorder = asyncio.create_task(notifier._record_outcomes())

        def put(attempt: AttemptOutcome) -> None:
            notifier.held.add(attempt.job.delivery_id)
            notifier.outcomes.put_nowait(attempt)

        try:
            put(refused_outcome(refused_job))
            # One good outcome after another: each batch the refused one is retried with is
            # stored, and counts a refusal against it.
            for job in good_jobs:
                put(outcome(job))
                await _until(lambda done=job.delivery_id: done not in notifier.held, timeout=10)
                stored.append(job)
                if refused_job.delivery_id not in notifier.held:
                    break
            await asyncio.wait_for(notifier.outcomes.join(), timeout=10)
        finally:
            recorder.cancel()
            await notifier.redis.aclose()
        assert not notifier.held

    with caplog.at_level(logging.ERROR, logger="services.notifier.app"):
        asyncio.run(scenario())

    assert len(stored) >= 3, "refused while others were stored, three times"
    assert all(attempt_codes(job.delivery_id) == [200] for job in stored)
    assert delivery(refused_job.delivery_id).status == DeliveryStatus.PENDING
    assert attempt_codes(refused_job.delivery_id) == []
    assert any(
        f"delivery {refused_job.delivery_id}" in record.getMessage()
        and "given up" in record.getMessage()
        for record in caplog.records
    )


def test_an_attempt_that_raises_is_recorded_as_a_failed_attempt_and_retried(
    seeded_database: str,
) -> None:
    """Whatever goes wrong in an attempt (here: a secret that cannot sign) ends it as a failed
    attempt in the log, rescheduled, and lets go of the delivery; it is never left claimed by
    this notifier, renewed for ever and never retried."""
    settings = get_settings()
    event_type = new_event_type()
    endpoint_id = create_endpoint(event_type=event_type)
    with transaction() as session:
        session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id)
            .values(secret="whsec_not base64!")
        )
    [job] = [
        job
        for job in DeliveryStore(settings).record_new_deliveries(stream_events(event_type, 1))
        if job.endpoint_id == endpoint_id
    ]

    async def scenario() -> None:
        notifier = Notifier(settings)
        recorder = asyncio.create_task(notifier._record_outcomes())
        try:
            notifier._start(job)
            await _until(lambda: job.delivery_id not in notifier.held, timeout=10)
        finally:
            recorder.cancel()
            await notifier.connections.aclose()
            await notifier.redis.aclose()

    asyncio.run(scenario())

    assert attempt_codes(job.delivery_id) == [None]
    stored = delivery(job.delivery_id)
    assert stored.status == DeliveryStatus.PENDING
    assert stored.next_attempt_at is not None
    assert stored.claimed_until is None
