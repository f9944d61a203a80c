"""Test session: a fresh SQLite file, migrated and seeded, served by a real uvicorn process.

DATABASE_URL is set before anything reads the settings, so in-process helpers (key creation,
row assertions) and the server subprocess share the same database file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session

from tests.support.databases import new_database_url
from tests.support.processes import ApiServer, free_port, start_api_server
from tests.support.redis_server import RedisServer

_DATA_DIR = Path(tempfile.mkdtemp(prefix="ticketing-tests-"))
_REDIS = RedisServer(port=free_port(), directory=_DATA_DIR / "redis")
# Set before anything reads the settings: in-process helpers and every server subprocess share
# this database file and this private Redis (never the machine's default one).
os.environ["DATABASE_URL"] = new_database_url(_DATA_DIR)
os.environ["REDIS_URL"] = _REDIS.url
os.environ.setdefault("SQLITE_BUSY_TIMEOUT_MS", "30000")
# Attachment files of the suite's server and in-process helpers, never ./data.
os.environ.setdefault("ATTACHMENTS_DIR", str(_DATA_DIR / "attachments"))
# The suite creates thousands of tickets and hundreds of 401s from one address within minutes:
# limits stay on (every request goes through the check) but out of reach. The rate limit tests
# start their own servers with small limits.
for _limit in ("CUSTOMER", "AGENT", "ADMIN", "ANONYMOUS", "FAILED_AUTH"):
    os.environ.setdefault(f"RATE_LIMIT_{_limit}", "1000000/minute")

from services.api.auth.keys import create_api_key  # noqa: E402
from services.api.seed import seed_sample_data  # noqa: E402
from shared.migrate import upgrade_to_head  # noqa: E402
from shared.unit_of_work import transaction  # noqa: E402

SAMPLE_EMAILS = {
    "customer": "john.doe@example.com",
    "other_customer": "jane.smith@example.com",
    "third_customer": "bob.wilson@example.com",
    "agent": "sarah.johnson@example.com",
    "other_agent": "mike.chen@example.com",
    "admin": "admin@example.com",
}


@pytest.fixture(scope="session")
def database_url() -> str:
    return os.environ["DATABASE_URL"]


@pytest.fixture(scope="session", autouse=True)
def redis_server() -> Iterator[RedisServer]:
    _REDIS.start()
    yield _REDIS
    _REDIS.stop()


@pytest.fixture(scope="session")
def seeded_database(database_url: str) -> str:
    upgrade_to_head(database_url)
    with transaction() as session:
        seed_sample_data(session)
    return database_url


@pytest.fixture(scope="session")
def api_server(seeded_database: str) -> Iterator[ApiServer]:
    server = start_api_server(env={"DATABASE_URL": seeded_database})
    yield server
    server.stop()


@pytest.fixture(scope="session")
def api_keys(seeded_database: str) -> dict[str, str]:
    """One fresh key per sample user, by role name (see SAMPLE_EMAILS)."""
    keys = {}
    with transaction() as session:
        for role, email in SAMPLE_EMAILS.items():
            _row, keys[role] = create_api_key(session, email=email, name=f"tests-{role}")
    return keys


def _client(server: ApiServer, key: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=server.base_url, headers=headers, timeout=30)


@pytest.fixture(scope="session")
def clients(api_server: ApiServer, api_keys: dict[str, str]) -> Iterator[dict[str, httpx.Client]]:
    made = {role: _client(api_server, key) for role, key in api_keys.items()}
    made["anonymous"] = _client(api_server, None)
    yield made
    for client in made.values():
        client.close()


@pytest.fixture
def admin(clients: dict[str, httpx.Client]) -> httpx.Client:
    return clients["admin"]


@pytest.fixture
def agent(clients: dict[str, httpx.Client]) -> httpx.Client:
    """Sarah Johnson, user 4."""
    return clients["agent"]


@pytest.fixture
def other_agent(clients: dict[str, httpx.Client]) -> httpx.Client:
    """Mike Chen, user 5."""
    return clients["other_agent"]


@pytest.fixture
def customer(clients: dict[str, httpx.Client]) -> httpx.Client:
    """John Doe, user 1."""
    return clients["customer"]


@pytest.fixture
def other_customer(clients: dict[str, httpx.Client]) -> httpx.Client:
    """Jane Smith, user 2."""
    return clients["other_customer"]


@pytest.fixture
def anonymous(clients: dict[str, httpx.Client]) -> httpx.Client:
    return clients["anonymous"]


@pytest.fixture(scope="session")
def _assertion_engine(seeded_database: str) -> Iterator[Engine]:
    # Autocommit: every query sees the latest commit (an open transaction would keep showing
    # its first snapshot on SQLite, and hold locks that DDL in a test waits for on PostgreSQL).
    engine = create_engine(seeded_database, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@pytest.fixture
def db(_assertion_engine: Engine) -> Iterator[Session]:
    """A session for asserting what the API committed; each query sees the latest data."""
    with Session(_assertion_engine) as session:
        yield session
