"""Rate limits: per user by role (a user's keys share one budget), per address at the anonymous
rate without a known key (a made-up bearer included), X-Forwarded-For believed only from a
listed proxy, failed authentication slowed down, one Redis round trip per check, RateLimit-*
headers on every answer, and no limits (but no failures) without Redis.

Each group runs its own API server on its own private Redis with small limits; the suite's
server keeps limits out of reach (tests/conftest.py)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from services.api.auth.keys import create_api_key
from services.api.rate_limits.middleware import EXEMPT_PATHS
from shared.settings import Settings
from shared.unit_of_work import transaction
from tests.helpers import new_ticket, problem_of
from tests.support.processes import ApiServer, free_port, start_api_server, wait_until
from tests.support.redis_server import RedisServer

HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")
LIMITS = {
    "RATE_LIMIT_CUSTOMER": "5/minute",
    "RATE_LIMIT_AGENT": "8/minute",
    "RATE_LIMIT_ADMIN": "12/minute",
    "RATE_LIMIT_ANONYMOUS": "4/minute",
    "RATE_LIMIT_FAILED_AUTH": "100/minute",
}


def _serve(redis: RedisServer, database_url: str, **env: str) -> ApiServer:
    return start_api_server(env={"DATABASE_URL": database_url, "REDIS_URL": redis.url, **env})


@pytest.fixture(scope="module")
def limits_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    redis = RedisServer(port=free_port(), directory=tmp_path_factory.mktemp("limits-redis"))
    redis.start()
    yield redis
    redis.stop()


@pytest.fixture(scope="module")
def limited_server(limits_redis: RedisServer, seeded_database: str) -> Iterator[ApiServer]:
    server = _serve(limits_redis, seeded_database, **LIMITS)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def guarded_server(limits_redis: RedisServer, seeded_database: str) -> Iterator[ApiServer]:
    """Three failed authentications a minute per address; everything else generous."""
    server = _serve(
        limits_redis,
        seeded_database,
        **{**LIMITS, "RATE_LIMIT_ANONYMOUS": "100/minute", "RATE_LIMIT_FAILED_AUTH": "3/minute"},
    )
    yield server
    server.stop()


def _client(
    server: ApiServer, key: str | None = None, *, address: str = "127.0.0.1"
) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=server.base_url, headers=headers, transport=transport, timeout=30)


@pytest.fixture
def clients_of(
    limits_redis: RedisServer, api_keys: dict[str, str]
) -> Iterator[dict[tuple[str, str], httpx.Client]]:
    """Clients by (server url, role), made lazily; counters start from zero in every test."""
    made: dict[tuple[str, str], httpx.Client] = {}
    limits_redis.client().flushdb()
    yield made
    for client in made.values():
        client.close()


def _known(server: ApiServer, key: str, made: dict[tuple[str, str], httpx.Client]) -> httpx.Client:
    """A client whose key the server already knows (a key is counted by its own limit from its
    second request on; the first one, before authentication, counts as its address)."""
    client = made.get((server.base_url, key))
    if client is None:
        client = made[(server.base_url, key)] = _client(server, key)
        assert client.get("/statuses").status_code == 200
    return client


def _limit_headers(response: httpx.Response) -> tuple[int, int, int]:
    limit, remaining, reset = (int(response.headers[name]) for name in HEADERS)
    return limit, remaining, reset


def _flush(redis: RedisServer) -> None:
    redis.client().flushdb()


def test_every_answer_carries_the_rate_limit_headers(
    limited_server: ApiServer,
    limits_redis: RedisServer,
    api_keys: dict[str, str],
    clients_of: dict[tuple[str, str], httpx.Client],
) -> None:
    agent = _known(limited_server, api_keys["agent"], clients_of)
    _flush(limits_redis)
    answers = [
        agent.get("/statuses"),  # 200
        agent.get("/tickets/999999"),  # 404
        agent.post("/tickets", json={"title": ""}),  # 422
        agent.post("/tickets", content=b"{not json", headers={"Content-Type": "application/json"}),
    ]
    assert [answer.status_code for answer in answers] == [200, 404, 422, 400]
    assert [_limit_headers(answer)[:2] for answer in answers] == [(8, 7), (8, 6), (8, 5), (8, 4)]
    assert all(0 < _limit_headers(answer)[2] <= 60 for answer in answers)


def test_a_key_past_its_limit_gets_429_with_retry_after(
    limited_server: ApiServer,
    limits_redis: RedisServer,
    api_keys: dict[str, str],
    clients_of: dict[tuple[str, str], httpx.Client],
) -> None:
    customer = _known(limited_server, api_keys["customer"], clients_of)
    _flush(limits_redis)
    assert [customer.get("/statuses").status_code for _ in range(5)] == [200] * 5

    refused = customer.get("/statuses")

    assert refused.status_code == 429
    assert problem_of(refused)["title"] == "Too many requests"
    limit, remaining, reset = _limit_headers(refused)
    assert (limit, remaining) == (5, 0)
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert int(refused.headers["Retry-After"]) == reset


def test_a_refused_write_changes_nothing(
    limited_server: ApiServer,
    limits_redis: RedisServer,
    api_keys: dict[str, str],
    clients_of: dict[tuple[str, str], httpx.Client],
) -> None:
    customer = _known(limited_server, api_keys["customer"], clients_of)
    _flush(limits_redis)
    for _ in range(5):
        customer.get("/statuses")
    title = f"refused while over the limit {time.time_ns()}"

    refused = customer.post(
        "/tickets",
        json={"title": title, "description": "x", "category_id": 1, "priority_id": 3},
    )

    assert refused.status_code == 429
    _flush(limits_redis)
    found = customer.get("/tickets", params={"limit": 100}).json()["items"]
    assert title not in [ticket["title"] for ticket in found]


def test_the_limit_follows_the_role_of_the_keys_user(
    limited_server: ApiServer,
    limits_redis: RedisServer,
    api_keys: dict[str, str],
    clients_of: dict[tuple[str, str], httpx.Client],
) -> None:
    by_role = {
        role: _known(limited_server, api_keys[role], clients_of)
        for role in ("customer", "agent", "admin")
    }
    _flush(limits_redis)
    accepted = {
        role: sum(client.get("/statuses").status_code == 200 for _ in range(15))
        for role, client in by_role.items()
    }
    assert accepted == {"customer": 5, "agent": 8, "admin": 12}


def test_every_user_has_their_own_counter(
    limited_server: ApiServer,
    limits_redis: RedisServer,
    api_keys: dict[str, str],
    clients_of: dict[tuple[str, str], httpx.Client],
) -> None:
    customer = _known(limited_server, api_keys["customer"], clients_of)
    other_customer = _known(limited_server, api_keys["other_customer"], clients_of)
    _flush(limits_redis)
    for _ in range(6):
        customer.get("/statuses")
    assert customer.get("/statuses").status_code == 429

    answer = other_customer.get("/statuses")

    assert answer.status_code == 200
    assert _limit_headers(answer)[:2] == (5, 4)


def test_mcp_requests_count_against_their_key(
    limited_server: ApiServer,
    limits_redis: RedisServer,
    api_keys: dict[str, str],
    clients_of: dict[tuple[str, str], httpx.Client],
) -> None:
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "1"},
        },
    }
    headers = {"Accept": "application/json, text/event-stream"}
    _flush(limits_redis)
    with _client(limited_server, api_keys["other_agent"], address="127.0.0.8") as mcp:
        first = mcp.post("/mcp", json=initialize, headers=headers)  # learns the key
        second = mcp.post("/mcp", json=initialize, headers=headers)
    assert (first.status_code, second.status_code) == (200, 200)
    # The address's anonymous count before the key is known, then the agent's own.
    assert _limit_headers(first)[:2] == (4, 3)
    assert _limit_headers(second)[:2] == (8, 7)


def test_requests_without_a_key_are_limited_per_address(
    limited_server: ApiServer,
    limits_redis: RedisServer,
    api_keys: dict[str, str],
    clients_of: dict[tuple[str, str], httpx.Client],
) -> None:
    agent = _known(limited_server, api_keys["agent"], clients_of)
    _flush(limits_redis)
    with (
        _client(limited_server, address="127.0.0.2") as first,
        _client(limited_server, address="127.0.0.3") as second,
    ):
        statuses = [first.get("/tickets").status_code for _ in range(5)]
        assert statuses == [401, 401, 401, 401, 429]
        assert _limit_headers(first.get("/tickets"))[:2] == (4, 0)
        # Another address has its own counter, and a known key from anywhere its own.
        assert second.get("/tickets").status_code == 401
    assert agent.get("/statuses").status_code == 200


def test_repeated_failed_authentication_from_an_address_gets_429(
    guarded_server: ApiServer,
    limits_redis: RedisServer,
    clients_of: dict[tuple[str, str], httpx.Client],
) -> None:
    _flush(limits_redis)
    with _client(guarded_server, address="127.0.0.4") as attacker:
        statuses = [
            attacker.get("/tickets", headers={"Authorization": f"Bearer tkt_guess{n}"}).status_code
            for n in range(5)
        ]
        assert statuses == [401, 401, 401, 429, 429]
        refused = attacker.get("/tickets", headers={"Authorization": "Bearer tkt_another"})
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert _limit_headers(refused)[:2] == (3, 0)
    # The count is per address: another client still just gets its 401.
    with _client(guarded_server, address="127.0.0.5") as bystander:
        assert bystander.get("/tickets").status_code == 401


def test_a_known_key_at_a_locked_out_address_still_works(
    guarded_server: ApiServer,
    limits_redis: RedisServer,
    api_keys: dict[str, str],
    clients_of: dict[tuple[str, str], httpx.Client],
) -> None:
    agent = _known(guarded_server, api_keys["agent"], clients_of)  # from 127.0.0.1
    _flush(limits_redis)
    with _client(guarded_server, address="127.0.0.1") as attacker:
        for n in range(3):
            attacker.get("/tickets", headers={"Authorization": f"Bearer tkt_wrong{n}"})
        assert attacker.get("/tickets").status_code == 429

    assert agent.get("/statuses").status_code == 200


def test_the_keys_of_one_user_share_one_budget(
    limited_server: ApiServer,
    limits_redis: RedisServer,
    api_keys: dict[str, str],
    clients_of: dict[tuple[str, str], httpx.Client],
) -> None:
    with transaction() as session:
        _row, second_key = create_api_key(session, email="john.doe@example.com", name="second")
    first = _known(limited_server, api_keys["customer"], clients_of)
    second = _known(limited_server, second_key, clients_of)
    _flush(limits_redis)

    statuses = [client.get("/statuses").status_code for client in (first, second) * 3]

    assert statuses == [200] * 5 + [429]


def test_made_up_bearers_share_their_address_anonymous_budget(
    limited_server: ApiServer,
    limits_redis: RedisServer,
    clients_of: dict[tuple[str, str], httpx.Client],
) -> None:
    _flush(limits_redis)
    with _client(limited_server, address="127.0.0.9") as guesser:
        answers = [
            guesser.get("/tickets", headers={"Authorization": f"Bearer tkt_made_up_{n}"})
            for n in range(5)
        ]
        without_a_key = guesser.get("/tickets")
    assert [answer.status_code for answer in answers] == [401] * 4 + [429]
    assert [_limit_headers(answer)[:2] for answer in answers[:4]] == [
        (4, 3),
        (4, 2),
        (4, 1),
        (4, 0),
    ]
    assert without_a_key.status_code == 429


def _rate_limit_commands(redis: RedisServer, requests: Callable[[], object]) -> list[str]:
    """The commands that clients sent about rate-limit counters while `requests` ran (those a
    script runs inside Redis are not round trips, and not counted)."""
    sent: list[str] = []
    watching = threading.Event()

    def watch() -> None:
        with redis.client().monitor() as monitor:
            watching.set()
            for event in monitor.listen():
                if event["command"] == "ECHO end-of-watch":
                    return
                if event["client_type"] != "lua" and "ratelimit" in event["command"]:
                    sent.append(event["command"].split()[0])

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert watching.wait(timeout=10)
    requests()
    redis.client().echo("end-of-watch")
    watcher.join(timeout=10)
    return sent


def test_a_check_is_one_redis_round_trip(
    limited_server: ApiServer,
    limits_redis: RedisServer,
    api_keys: dict[str, str],
    clients_of: dict[tuple[str, str], httpx.Client],
) -> None:
    agent = _known(limited_server, api_keys["agent"], clients_of)
    _flush(limits_redis)
    with _client(limited_server, address="127.0.0.11") as anonymous:
        assert _rate_limit_commands(limits_redis, lambda: agent.get("/statuses")) == ["EVALSHA"]
        # Without a known key the check also reads the failed-authentication count, in the
        # same command; the 401 then counts against the address after the answer.
        commands = _rate_limit_commands(limits_redis, lambda: anonymous.get("/statuses"))
    assert commands == ["EVALSHA", "EVALSHA"]


def test_far_from_the_limit_a_known_user_is_counted_here_and_added_in_redis_in_batches(
    limits_redis: RedisServer,
    seeded_database: str,
    api_keys: dict[str, str],
    clients_of: dict[tuple[str, str], httpx.Client],
) -> None:
    """40 a minute: the first request and the last 16 before the limit are counted in Redis
    before their answer; those in between are counted in the process and added in Redis in
    batches. The limit is still exact: the 41st is refused."""
    server = _serve(limits_redis, seeded_database, **{**LIMITS, "RATE_LIMIT_AGENT": "40/minute"})
    try:
        agent = _known(server, api_keys["agent"], clients_of)
        _flush(limits_redis)
        answers: list[httpx.Response] = []

        def forty_one() -> None:
            answers.extend(agent.get("/statuses") for _ in range(41))

        commands = _rate_limit_commands(limits_redis, forty_one)

        assert [answer.status_code for answer in answers] == [200] * 40 + [429]
        assert [_limit_headers(answer)[1] for answer in answers[:40]] == list(range(39, -1, -1))
        assert commands.count("EVALSHA") < 30, commands  # 41 when every check was a round trip
        counted = {
            key: int(value)
            for key in limits_redis.client().keys("ratelimit:*user*")
            if (value := limits_redis.client().get(key)) is not None
        }
        assert list(counted.values()) == [41], counted  # every request ended up in Redis
    finally:
        server.stop()


# --- X-Forwarded-For ------------------------------------------------------------------------


def _anonymous_answers(server: ApiServer, forwarded_for: list[str]) -> list[httpx.Response]:
    with _client(server, address="127.0.0.1") as client:
        return [
            client.get("/tickets", headers={"X-Forwarded-For": address})
            for address in forwarded_for
        ]


def test_x_forwarded_for_is_ignored_by_default(
    limits_redis: RedisServer, seeded_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    server = _serve(limits_redis, seeded_database, **LIMITS)
    try:
        _flush(limits_redis)
        answers = _anonymous_answers(server, [f"203.0.113.{n}" for n in range(1, 6)])
    finally:
        server.stop()
    # One bucket, the peer's: a client on loopback cannot pick a fresh one per request.
    assert [answer.status_code for answer in answers] == [401] * 4 + [429]


def test_x_forwarded_for_from_a_listed_proxy_picks_the_clients_bucket(
    limits_redis: RedisServer, seeded_database: str
) -> None:
    server = _serve(limits_redis, seeded_database, **LIMITS, FORWARDED_ALLOW_IPS="127.0.0.1")
    try:
        _flush(limits_redis)
        answers = _anonymous_answers(server, ["203.0.113.1"] * 5 + ["203.0.113.2"])
    finally:
        server.stop()
    assert [answer.status_code for answer in answers] == [401] * 4 + [429, 401]
    assert _limit_headers(answers[-1])[:2] == (4, 3)


@pytest.mark.parametrize("path", sorted(EXEMPT_PATHS - {"/docs/oauth2-redirect"}))
def test_probes_and_docs_are_never_limited(
    limited_server: ApiServer,
    limits_redis: RedisServer,
    clients_of: dict[tuple[str, str], httpx.Client],
    api_keys: dict[str, str],
    path: str,
) -> None:
    # /metrics wants an admin's key (a scrape's), the others nothing.
    key = {"Authorization": f"Bearer {api_keys['admin']}"} if path == "/metrics" else {}
    _flush(limits_redis)
    with _client(limited_server, address="127.0.0.7") as anonymous:
        for _ in range(5):
            anonymous.get("/tickets")
        assert anonymous.get("/tickets").status_code == 429
        answer = anonymous.get(path, headers=key)
    assert answer.status_code == 200
    assert not any(name in answer.headers for name in HEADERS)


def test_a_wrong_rate_is_refused_at_start_naming_the_variable() -> None:
    with pytest.raises(ValueError, match="rate_limit_agent"):
        Settings(rate_limit_agent="lots")


def test_limits_can_be_switched_off(
    limits_redis: RedisServer, seeded_database: str, api_keys: dict[str, str]
) -> None:
    server = _serve(limits_redis, seeded_database, **LIMITS, RATE_LIMIT_ENABLED="false")
    try:
        with _client(server, api_keys["customer"]) as customer:
            answers = [customer.get("/statuses") for _ in range(12)]
        assert {answer.status_code for answer in answers} == {200}
        assert not any(name in answers[-1].headers for name in HEADERS)
        ready = httpx.get(f"{server.base_url}/ready").json()
        assert ready["rate_limits"] == {"enabled": False, "enforced": False}
    finally:
        server.stop()


# --- Redis away -----------------------------------------------------------------------------


@pytest.fixture
def redis_to_stop(tmp_path: Path) -> Iterator[RedisServer]:
    redis = RedisServer(port=free_port(), directory=tmp_path / "redis")
    redis.start()
    yield redis
    if redis.process is not None and redis.process.poll() is None:
        os.kill(redis.process.pid, signal.SIGCONT)
    redis.stop()


@pytest.fixture
def server_on_redis_to_stop(
    redis_to_stop: RedisServer, seeded_database: str
) -> Iterator[ApiServer]:
    server = _serve(redis_to_stop, seeded_database, **LIMITS)
    yield server
    server.stop()


def _ready(server: ApiServer) -> dict[str, object]:
    return dict(httpx.get(f"{server.base_url}/ready", timeout=10).json())


def test_without_redis_requests_pass_unlimited_and_ready_says_so(
    server_on_redis_to_stop: ApiServer, redis_to_stop: RedisServer, api_keys: dict[str, str]
) -> None:
    server = server_on_redis_to_stop
    assert _ready(server)["rate_limits"] == {"enabled": True, "enforced": True}
    with _client(server, api_keys["customer"]) as customer:
        # By address at first (the key not yet known), at the anonymous rate.
        assert customer.get("/statuses").headers["RateLimit-Limit"] == "4"

        redis_to_stop.stop()
        created = [new_ticket(customer) for _ in range(8)]  # past the customer's 5 a minute

        assert len({ticket["id"] for ticket in created}) == 8
        answer = customer.get("/statuses")
        assert answer.status_code == 200
        assert not any(name in answer.headers for name in HEADERS)
        ready = _ready(server)
        assert ready["degraded"] is True
        assert ready["rate_limits"] == {"enabled": True, "enforced": False}

        redis_to_stop.start()
        wait_until(
            lambda: "RateLimit-Limit" in customer.get("/statuses").headers,
            timeout=15,
            what="limits to be counted again after Redis came back",
        )
        assert _ready(server)["rate_limits"] == {"enabled": True, "enforced": True}


def test_a_hung_redis_costs_a_short_timeout_now_and_then_not_every_request(
    server_on_redis_to_stop: ApiServer, redis_to_stop: RedisServer, api_keys: dict[str, str]
) -> None:
    server = server_on_redis_to_stop
    assert redis_to_stop.process is not None
    with _client(server, api_keys["agent"]) as agent:
        assert agent.get("/statuses").status_code == 200
        os.kill(redis_to_stop.process.pid, signal.SIGSTOP)  # accepts connections, never answers
        try:
            started = time.monotonic()
            statuses = [agent.get("/statuses").status_code for _ in range(20)]
            elapsed = time.monotonic() - started
        finally:
            os.kill(redis_to_stop.process.pid, signal.SIGCONT)
    assert statuses == [200] * 20
    # One 0.25 s timeout, then Redis is left alone for 2 s: far below 20 timeouts (5 s).
    assert elapsed < 2.0, f"20 requests took {elapsed:.2f} s with Redis hung"
