"""`ticketing backup` copies the SQLite database while the system runs and takes writes;
`ticketing restore` brings that moment back: every ticket committed before the backup is there
with its history, later ones are gone, and the events that were still in the outbox at backup
time flow to the worker once the system is started again."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import threading
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import func, select

from shared.blob_store import BlobStore
from shared.migrate import alembic_config
from shared.models import OutboxEvent, ProcessedEvent, Ticket
from tests.support.databases import on_postgres
from tests.support.processes import (
    BIN,
    ApiServer,
    fresh_database_env,
    start_api_server,
    ticketing,
    wait_until,
)
from tests.support.system import System

sqlite_only = pytest.mark.skipif(on_postgres(), reason="backup and restore copy SQLite files")


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "ticketing"), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@dataclass(frozen=True)
class Write:
    ticket_id: int
    sent_at: float
    answered_at: float


class TicketWriter:
    """Creates tickets through the API, one after another, until stopped; remembers when each
    request went out and when its 201 came back."""

    def __init__(self, base_url: str, key: str) -> None:
        self._client = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)
        self.writes: list[Write] = []

    def _run(self) -> None:
        n = 0
        while not self._stop.is_set():
            n += 1
            sent_at = time.monotonic()
            response = self._client.post(
                "/tickets",
                json={"title": f"Written during backup {n}", "description": "d", "category_id": 2},
            )
            assert response.status_code == 201, response.text
            self.writes.append(Write(response.json()["id"], sent_at, time.monotonic()))

    def __enter__(self) -> TicketWriter:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        self._client.close()


def _unhandled(system: System, ids: list[int]) -> tuple[int, int]:
    """How many of these tickets' events are unpublished, and how many tickets lack SLA times."""
    with system.db() as db:
        unpublished = db.scalar(
            select(func.count()).where(
                OutboxEvent.ticket_id.in_(ids), OutboxEvent.published_at.is_(None)
            )
        )
        untimed = db.scalar(
            select(func.count()).where(Ticket.id.in_(ids), Ticket.resolution_due_at.is_(None))
        )
    return int(unpublished or 0), int(untimed or 0)


@sqlite_only
def test_restore_brings_back_the_moment_of_the_backup_and_its_unpublished_events(
    system: System, tmp_path: Path
) -> None:
    agent = system.client("agent")
    # Redis goes away while the worker holds no task (see test_redis_outage.py): the tickets
    # below are committed with their events waiting in the outbox.
    system.beat.stop()
    wait_until(lambda: not system.redis.client().hlen("unacked"), timeout=15, what="an idle worker")
    system.redis.stop()
    waiting_ids = []
    for n in range(8):
        created = agent.post(
            "/tickets",
            json={"title": f"Before the backup {n}", "description": "d", "category_id": 1},
        )
        assert created.status_code == 201, created.text
        waiting_ids.append(created.json()["id"])
        changed = agent.patch(f"/tickets/{waiting_ids[-1]}", json={"status_id": 2})
        assert changed.status_code == 200, changed.text
    histories = {
        ticket_id: agent.get(f"/tickets/{ticket_id}/history").json() for ticket_id in waiting_ids
    }
    assert all(len(history) >= 2 for history in histories.values())
    assert _unhandled(system, waiting_ids) == (2 * len(waiting_ids), len(waiting_ids))

    backup_path = tmp_path / "tickets-backup.db"
    with TicketWriter(system.api.base_url, system.keys["customer"]) as writer:
        wait_until(lambda: len(writer.writes) >= 5, timeout=30, what="the writer to get going")
        backup_started = time.monotonic()
        ticketing("backup", str(backup_path), env=system.env)
        backup_ended = time.monotonic()
        writes_at_end = len(writer.writes)
        wait_until(lambda: len(writer.writes) >= writes_at_end + 5, timeout=30, what="more writes")
    during = [
        w for w in writer.writes if backup_started < w.answered_at and w.sent_at < backup_ended
    ]
    assert during, "the API took writes while the backup ran"
    before = waiting_ids + [w.ticket_id for w in writer.writes if w.answered_at < backup_started]
    after = [w.ticket_id for w in writer.writes if w.sent_at > backup_ended]
    assert after
    for n in range(3):
        created = agent.post(
            "/tickets",
            json={"title": f"After the backup {n}", "description": "d", "category_id": 1},
        )
        assert created.status_code == 201
        after.append(created.json()["id"])

    system.engine.dispose()  # the test's own connections count as users of the database
    refused = _run("restore", str(backup_path), env=system.env)
    assert refused.returncode == 1
    assert "stop the api" in refused.stderr
    assert agent.get(f"/tickets/{after[-1]}").status_code == 200, (
        "a refused restore changes nothing"
    )

    system.worker.stop()
    system.api.stop()
    restored = _run("restore", str(backup_path), env=system.env)
    assert restored.returncode == 0, restored.stderr

    system.redis.start()
    system.worker.start()
    system.beat.start()
    api: ApiServer = start_api_server(env=system.env)
    try:
        with httpx.Client(
            base_url=api.base_url,
            headers={"Authorization": f"Bearer {system.keys['agent']}"},
            timeout=30,
        ) as agent:
            for ticket_id in before:
                assert agent.get(f"/tickets/{ticket_id}").status_code == 200, ticket_id
            for ticket_id, history in histories.items():
                assert agent.get(f"/tickets/{ticket_id}/history").json() == history
            for ticket_id in after:
                assert agent.get(f"/tickets/{ticket_id}").status_code == 404, ticket_id

            def all_handled() -> bool:
                return _unhandled(system, before) == (0, 0)

            # The worker reconnects on kombu's back-off (2 s, 4 s, 6 s … between attempts).
            wait_until(all_handled, timeout=90, what="the waiting events to reach the worker")
            with system.db() as db:
                event_ids = db.scalars(
                    select(OutboxEvent.event_id).where(
                        OutboxEvent.ticket_id.in_(waiting_ids),
                        # the API's events; the worker's ticket.sla_updated come on top
                        OutboxEvent.event_type != "ticket.sla_updated",
                    )
                ).all()
                handled = db.scalar(
                    select(func.count()).where(ProcessedEvent.event_id.in_(event_ids))
                )
            assert handled == len(event_ids) == 2 * len(waiting_ids)
            sla = agent.get(f"/tickets/{waiting_ids[0]}").json()
            assert sla["resolution_due_at"] is not None
    finally:
        api.stop()


def _head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _revision(path: Path) -> str:
    with closing(sqlite3.connect(path)) as db:
        return str(db.execute("SELECT version_num FROM alembic_version").fetchone()[0])


@sqlite_only
def test_a_backup_from_an_older_version_is_migrated_when_restored(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    command.upgrade(alembic_config(f"sqlite:///{old}"), "4b0751a2e9d1")
    output = ticketing(
        "backup", str(tmp_path / "old-backup.db"), env={"DATABASE_URL": f"sqlite:///{old}"}
    )
    assert output == "", "stdout stays free for scripts; messages go to stderr"
    assert _revision(tmp_path / "old-backup.db") == "4b0751a2e9d1"

    target = tmp_path / "restored" / "tickets.db"
    ticketing(
        "restore", str(tmp_path / "old-backup.db"), env={"DATABASE_URL": f"sqlite:///{target}"}
    )
    assert _revision(target) == _head_revision()


@sqlite_only
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a database at all" * 100, "not a readable SQLite database"),
        (None, "not a ticketing database"),
        ("unknown-revision", "does not know"),
        ("missing", "there is no file"),
    ],
)
def test_restore_refuses_what_is_not_a_ticketing_backup_and_changes_nothing(
    content: bytes | str | None, message: str, tmp_path: Path
) -> None:
    database = tmp_path / "tickets.db"
    command.upgrade(alembic_config(f"sqlite:///{database}"), "head")
    before = database.read_bytes()
    candidate = tmp_path / "candidate.db"
    if isinstance(content, bytes):
        candidate.write_bytes(content)
    elif content is None:
        with closing(sqlite3.connect(candidate)) as db:
            db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY)")
    elif content == "unknown-revision":
        candidate.write_bytes(before)
        with closing(sqlite3.connect(candidate)) as db:
            db.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
            db.commit()
    result = _run("restore", str(candidate), env={"DATABASE_URL": f"sqlite:///{database}"})
    assert result.returncode == 1
    assert message in result.stderr
    assert database.read_bytes() == before


@sqlite_only
def test_backup_never_overwrites_a_file(tmp_path: Path) -> None:
    database = tmp_path / "tickets.db"
    command.upgrade(alembic_config(f"sqlite:///{database}"), "head")
    existing = tmp_path / "existing.db"
    existing.write_bytes(b"keep me")
    result = _run("backup", str(existing), env={"DATABASE_URL": f"sqlite:///{database}"})
    assert result.returncode == 1
    assert "already exists" in result.stderr
    assert existing.read_bytes() == b"keep me"
    missing_dir = _run(
        "backup",
        str(tmp_path / "no" / "such" / "b.db"),
        env={"DATABASE_URL": f"sqlite:///{database}"},
    )
    assert missing_dir.returncode == 1
    assert "does not exist" in missing_dir.stderr


@pytest.mark.parametrize("action", ["backup", "restore"])
def test_backup_and_restore_refuse_postgresql_and_point_to_pg_dump(
    action: str, tmp_path: Path
) -> None:
    result = _run(
        action,
        str(tmp_path / "b.db"),
        env={"DATABASE_URL": "postgresql+psycopg://ticketing@127.0.0.1:1/ticketing"},
    )
    assert result.returncode == 1
    assert "pg_dump" in result.stderr
    assert not (tmp_path / "b.db").exists()


@sqlite_only
def test_backup_and_restore_carry_the_attachment_files(tmp_path: Path) -> None:
    env = {**fresh_database_env(tmp_path / "live"), "ATTACHMENTS_DIR": str(tmp_path / "files")}
    key = ticketing("api-key", "create", "--email", "sarah.johnson@example.com", env=env).strip()
    server = start_api_server(env=env)
    try:
        with httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as client:
            ticket = client.post(
                "/tickets", json={"title": "With files", "description": "d", "category_id": 1}
            ).json()
            files = {"report.pdf": os.urandom(300_000), "notes.txt": b"the notes"}
            made = client.post(
                f"/tickets/{ticket['id']}/attachments",
                files=[("file", (name, data, "application/pdf")) for name, data in files.items()],
            )
            assert made.status_code == 201, made.text
            backup_path = tmp_path / "with-files.db"
            ticketing("backup", str(backup_path), env=env)
    finally:
        server.stop()

    # A new machine: an empty directory for the database and for the files.
    restored_env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'restored' / 'tickets.db'}",
        "ATTACHMENTS_DIR": str(tmp_path / "restored-files"),
    }
    result = _run("restore", str(backup_path), env=restored_env)
    assert result.returncode == 0, result.stderr
    assert "with 2 attachment files" in result.stderr
    with closing(sqlite3.connect(tmp_path / "restored" / "tickets.db")) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
    assert "backup_attachment_files" not in tables
    assert "attachments" in tables
    server = start_api_server(env=restored_env)
    try:
        with httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as client:
            listed = client.get(f"/tickets/{ticket['id']}/attachments").json()
            assert [a["filename"] for a in listed] == list(files)
            for attachment in listed:
                content = client.get(attachment["content_url"])
                assert content.status_code == 200
                assert content.content == files[attachment["filename"]]
    finally:
        server.stop()


@sqlite_only
def test_restore_refuses_a_backup_whose_file_does_not_match_its_name(tmp_path: Path) -> None:
    env = {**fresh_database_env(tmp_path / "live"), "ATTACHMENTS_DIR": str(tmp_path / "files")}
    BlobStore(tmp_path / "files").put(b"original bytes")
    backup_path = tmp_path / "backup.db"
    ticketing("backup", str(backup_path), env=env)
    with closing(sqlite3.connect(backup_path)) as db:
        db.execute("UPDATE backup_attachment_files SET content = ?", (b"tampered",))
        db.commit()
    result = _run(
        "restore",
        str(backup_path),
        env={
            "DATABASE_URL": f"sqlite:///{tmp_path / 'restored.db'}",
            "ATTACHMENTS_DIR": str(tmp_path / "restored-files"),
        },
    )
    assert result.returncode == 1
    assert "does not match its content" in result.stderr
    assert (
        not (tmp_path / "restored.db").exists()
        or _revision_or_none(tmp_path / "restored.db") is None
    )


def _revision_or_none(path: Path) -> str | None:
    with closing(sqlite3.connect(path)) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
    return _revision(path) if "alembic_version" in tables else None
