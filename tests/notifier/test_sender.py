"""One attempt against a real receiver on loopback."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator

import pytest

from services.notifier.connections import ConnectionPool
from services.notifier.sender import AttemptOutcome, DeliveryJob, attempt_delivery
from shared.webhook_security import new_signing_secret
from tests.support.receiver import Behaviour, WebhookReceiver, running_receiver, verified

PAYLOAD = (
    '{"id":"evt_1","type":"ticket.created","timestamp":"2026-11-27T12:00:00.000000Z","data":{}}'
)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with running_receiver() as running:
        yield running


def _attempt(url: str, secret: str, *, allow_private: bool, timeout: float = 2) -> AttemptOutcome:
    job = DeliveryJob(
        delivery_id=1,
        endpoint_id=1,
        url=url,
        secrets=[secret],
        event_id="evt_1",
        payload=PAYLOAD,
        attempt_number=1,
    )

    async def run() -> AttemptOutcome:
        connections = ConnectionPool(
            ssl_context=ssl.create_default_context(), max_idle_per_origin=1
        )
        try:
            return await attempt_delivery(
                connections, job, timeout=timeout, allow_private=allow_private, body_limit=16
            )
        finally:
            await connections.aclose()

    return asyncio.run(run())


def test_a_delivery_is_signed_so_that_standardwebhooks_verifies_it(
    receiver: WebhookReceiver,
) -> None:
    secret = new_signing_secret()
    outcome = _attempt(receiver.url("/ok"), secret, allow_private=True)
    assert outcome.succeeded
    [request] = receiver.at("/ok")
    assert verified(request, secret)["id"] == "evt_1"
    assert request.body.decode() == PAYLOAD


def test_a_private_address_is_refused_at_delivery_time_without_a_request(
    receiver: WebhookReceiver,
) -> None:
    outcome = _attempt(receiver.url("/private"), new_signing_secret(), allow_private=False)
    assert not outcome.succeeded
    assert outcome.error is not None
    assert outcome.error.startswith("refused")
    assert receiver.at("/private") == []


def test_a_hanging_receiver_is_given_up_on_at_the_timeout(receiver: WebhookReceiver) -> None:
    receiver.behaviours["/hang"] = Behaviour(delay=3)
    outcome = _attempt(receiver.url("/hang"), new_signing_secret(), allow_private=True, timeout=0.5)
    assert outcome.status_code is None
    assert outcome.error == "no answer within 0.5s"
    assert outcome.duration_ms < 1500


def test_only_the_start_of_the_answer_is_kept(receiver: WebhookReceiver) -> None:
    outcome = _attempt(receiver.url("/ok"), new_signing_secret(), allow_private=True)
    assert outcome.response_body == "ok"


@pytest.mark.parametrize(
    "url",
    [
        "http://100.100.100.200/latest/meta-data",
        "http://[fec0::1]/hook",
        "http://[2002:a9fe:a9fe::1]/hook",
        "http://[64:ff9b::a9fe:a9fe]/hook",
        "http://[::ffff:100.64.0.1]/hook",
    ],
)
def test_an_address_outside_the_public_internet_is_refused_at_delivery_time(url: str) -> None:
    outcome = _attempt(url, new_signing_secret(), allow_private=False)
    assert outcome.status_code is None
    assert outcome.error is not None
    assert outcome.error.startswith("refused"), outcome.error


@pytest.mark.parametrize(
    "url",
    ["http://[::1/hook", "http://127.0.0.1:99999/hook", "http://exa mple.com/", "http://a..b/"],
)
def test_a_malformed_url_stored_before_the_checks_is_a_failed_attempt(url: str) -> None:
    outcome = _attempt(url, new_signing_secret(), allow_private=True)
    assert outcome.status_code is None
    assert outcome.error is not None
    assert outcome.error.startswith("refused"), outcome.error


def test_a_secret_that_cannot_sign_is_a_failed_attempt_not_an_exception(
    receiver: WebhookReceiver,
) -> None:
    outcome = _attempt(receiver.url("/ok"), "whsec_not base64!", allow_private=True)
    assert not outcome.succeeded
    assert outcome.error is not None
    assert receiver.at("/ok") == []
