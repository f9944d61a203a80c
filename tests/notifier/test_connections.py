"""Keep-alive connections to receivers: reused while they last, replaced when they don't."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.notifier.connections import ConnectionPool, Origin
from services.notifier.sender import AttemptOutcome, DeliveryJob, attempt_delivery
from shared.webhook_security import new_signing_secret
from tests.support.receiver import Behaviour, WebhookReceiver, running_receiver

PAYLOAD = '{"id":"evt_1","type":"ticket.created","timestamp":"2026-11-27T12:00:00.000000Z"}'
ANSWER_OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with running_receiver() as running:
        yield running


def _job(url: str, n: int = 1) -> DeliveryJob:
    return DeliveryJob(
        delivery_id=n,
        endpoint_id=1,
        url=url,
        secrets=[new_signing_secret()],
        event_id=f"evt_{n}",
        payload=PAYLOAD,
        attempt_number=1,
    )


async def _deliver(
    connections: ConnectionPool, url: str, *, count: int, senders: int = 1, timeout: float = 5
) -> list[AttemptOutcome]:
    """`count` deliveries to `url` by `senders` concurrent senders sharing the pool."""
    numbers = list(range(count))
    outcomes: list[AttemptOutcome] = []

    async def sender() -> None:
        while numbers:
            job = _job(url, numbers.pop())
            outcomes.append(
                await attempt_delivery(
                    connections, job, timeout=timeout, allow_private=True, body_limit=16
                )
            )

    await asyncio.gather(*(sender() for _ in range(senders)))
    return outcomes


def _with_pool(
    scenario: Callable[[ConnectionPool], Awaitable[list[AttemptOutcome]]],
) -> tuple[list[AttemptOutcome], int]:
    """Run `scenario` with a fresh pool; its outcomes and how many connections it opened."""

    async def run() -> tuple[list[AttemptOutcome], int]:
        connections = ConnectionPool(
            ssl_context=ssl.create_default_context(), max_idle_per_origin=8
        )
        try:
            return await scenario(connections), connections.opened
        finally:
            await connections.aclose()

    return asyncio.run(run())


def test_deliveries_to_a_receiver_one_after_another_share_one_connection(
    receiver: WebhookReceiver,
) -> None:
    outcomes, opened = _with_pool(lambda pool: _deliver(pool, receiver.url("/one"), count=10))
    assert all(outcome.succeeded for outcome in outcomes)
    assert len(receiver.at("/one")) == 10
    assert receiver.connections("/one") == 1
    assert opened == 1


def test_concurrent_senders_each_keep_their_connection(receiver: WebhookReceiver) -> None:
    url = receiver.url("/four")
    outcomes, opened = _with_pool(lambda pool: _deliver(pool, url, count=40, senders=4))
    assert all(outcome.succeeded for outcome in outcomes)
    assert len(receiver.at("/four")) == 40
    assert receiver.connections("/four") == opened <= 4


def test_a_receiver_that_answers_connection_close_gets_a_new_connection_each_time(
    receiver: WebhookReceiver,
) -> None:
    receiver.behaviours["/close"] = Behaviour(headers={"connection": "close"})
    outcomes, opened = _with_pool(lambda pool: _deliver(pool, receiver.url("/close"), count=3))
    assert all(outcome.succeeded for outcome in outcomes)
    assert receiver.connections("/close") == opened == 3


async def _serve(
    answer: Callable[[int, int], bytes | None], *, ssl_context: ssl.SSLContext | None = None
) -> tuple[asyncio.Server, list[int]]:
    """A loopback server that reads each request (head and Content-Length body) and writes
    `answer(connection number, request number on it)`; None closes the connection without
    an answer. Returns the server and, per connection, how many requests it read."""
    requests: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = len(requests)
        requests.append(0)
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                length = next(
                    int(line.split(b":")[1])
                    for line in head.lower().split(b"\r\n")
                    if line.startswith(b"content-length:")
                )
                await reader.readexactly(length)
                requests[connection] += 1
                reply = answer(connection, requests[connection])
                if reply is None:
                    break
                writer.write(reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ssl_context)
    return server, requests


def _url(server: asyncio.Server, path: str) -> str:
    port = server.sockets[0].getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


def test_a_kept_connection_the_receiver_dropped_is_replaced_and_the_delivery_made() -> None:
    async def scenario(connections: ConnectionPool) -> list[AttemptOutcome]:
        # Each connection answers its first request only, then closes on the next one, as a
        # receiver closing an idle connection just as our request goes out.
        server, requests = await _serve(lambda _c, n: ANSWER_OK if n == 1 else None)
        async with server:
            outcomes = await _deliver(connections, _url(server, "/drops"), count=2)
        assert requests == [2, 1], "the second delivery went out again on a new connection"
        return outcomes

    outcomes, opened = _with_pool(scenario)
    assert [outcome.status_code for outcome in outcomes] == [200, 200]
    assert opened == 2


def test_an_answer_that_keeps_coming_is_cut_off_after_the_excerpt() -> None:
    async def scenario(connections: ConnectionPool) -> list[AttemptOutcome]:
        # Announces a megabyte, sends a little of it, then nothing.
        head = b"HTTP/1.1 200 OK\r\ncontent-length: 1048576\r\n\r\n"
        server, _requests = await _serve(lambda _c, _n: head + b"x" * 100)
        async with server:
            return await _deliver(connections, _url(server, "/endless"), count=1)

    started = time.monotonic()
    [outcome], opened = _with_pool(scenario)
    assert outcome.succeeded
    assert outcome.response_body == "x" * 16
    assert time.monotonic() - started < 2, "not waited for the rest"


def _certificates(directory: Path) -> tuple[Path, Path]:
    """A throw-away CA (its certificate file) and a server certificate and key for localhost
    signed by it (one PEM file)."""
    pytest.importorskip("cryptography")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)

    def certificate(
        subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name | None, signer: object
    ) -> x509.Certificate:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer or name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=1))
            .not_valid_after(now + timedelta(hours=1))
        )
        if issuer is None:
            builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName("localhost")]), False
            )
        assert isinstance(signer, ec.EllipticCurvePrivateKey)
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = certificate("Test CA", ca_key, None, ca_key)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = certificate("localhost", server_key, ca.subject, ca_key)
    ca_file, server_file = directory / "ca.pem", directory / "server.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    server_file.write_bytes(
        server.public_bytes(serialization.Encoding.PEM)
        + server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_file, server_file


def test_https_is_verified_for_the_host_named_while_connecting_to_the_address_checked(
    tmp_path: Path,
) -> None:
    ca_file, server_file = _certificates(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(server_file)
    names: list[str] = []

    def remember_name(_socket: ssl.SSLObject, name: str, _context: ssl.SSLContext) -> None:
        names.append(name)

    server_context.sni_callback = remember_name

    async def scenario() -> tuple[list[int], list[str]]:
        server, requests = await _serve(lambda _c, _n: ANSWER_OK, ssl_context=server_context)
        port = server.sockets[0].getsockname()[1]
        connections = ConnectionPool(
            ssl_context=ssl.create_default_context(cafile=ca_file), max_idle_per_origin=8
        )
        errors = []
        async with server:
            # The address is what the delivery checked; the certificate is for the name.
            origin = Origin("https", "localhost", "127.0.0.1", port)
            for _ in range(3):
                answer = await connections.post(
                    origin, target="/tls", headers=[("host", "localhost")], body=b"", body_limit=8
                )
                assert answer.status_code == 200
            try:
                await connections.post(
                    Origin("https", "elsewhere.example", "127.0.0.1", port),
                    target="/tls",
                    headers=[("host", "elsewhere.example")],
                    body=b"",
                    body_limit=8,
                )
            except ssl.SSLCertVerificationError as exc:
                errors.append(exc.verify_message)
            await connections.aclose()
        return requests, errors

    requests, errors = asyncio.run(scenario())
    assert requests == [3], "three deliveries on one verified connection"
    assert names[0] == "localhost"
    assert errors, "a certificate for another name is refused"


def test_a_connection_idle_past_the_keepalive_is_closed_and_not_reused(
    receiver: WebhookReceiver,
) -> None:
    url = receiver.url("/idle")

    async def scenario() -> list[AttemptOutcome]:
        connections = ConnectionPool(
            ssl_context=ssl.create_default_context(),
            max_idle_per_origin=8,
            keepalive_seconds=0.2,
        )
        outcomes = await _deliver(connections, url, count=1)
        assert sum(len(idle) for idle in connections.idle.values()) == 1
        deadline = time.monotonic() + 5
        while connections.idle:  # closed once 0.2 s have passed, not before
            assert time.monotonic() < deadline, "the idle connection was never closed"
            connections.close_expired()
            await asyncio.sleep(0.05)
        outcomes += await _deliver(connections, url, count=1)
        await connections.aclose()
        return outcomes

    outcomes = asyncio.run(scenario())
    assert all(outcome.succeeded for outcome in outcomes)
    assert receiver.connections("/idle") == 2


def test_a_connection_that_carried_more_than_our_answer_is_not_reused() -> None:
    async def scenario(connections: ConnectionPool) -> list[AttemptOutcome]:
        # A late "408 Request Timeout" after the answer: the next request must not read it.
        late = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n\r\n"
        server, requests = await _serve(lambda _c, _n: ANSWER_OK + late)
        async with server:
            outcomes = await _deliver(connections, _url(server, "/late"), count=2)
        assert requests == [1, 1]
        return outcomes

    outcomes, opened = _with_pool(scenario)
    assert [outcome.status_code for outcome in outcomes] == [200, 200]
    assert opened == 2
