"""Backing up and restoring the SQLite database with SQLite's online backup API.

The copy runs inside one read transaction on the live database. In WAL mode a reader never
blocks writers, so the API, worker and notifier keep committing while it runs, and the copy is
the database exactly as of the moment the transaction began. Holding that one snapshot is also
what lets the copy go in page steps: without it, SQLite restarts a stepped backup from the first
page every time another connection commits, and under steady writes it would never finish.

The attachment files (ATTACHMENTS_DIR) go into the same backup file, in a table of its own
(`backup_attachment_files`), copied after the snapshot: files are only ever added under the
hash of their bytes, so every file a row of the snapshot names is there. Restore writes them
back into the store, checking each against its name, and drops that table.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from shared.blob_store import BlobStore, content_name
from shared.migrate import alembic_config, upgrade_to_head

# Pages per backup step (4 KiB each): between steps the copy gives up the GIL and the disk.
PAGES_PER_STEP = 1024
# Tables a ticketing database has had since its first migration.
_REQUIRED_TABLES = frozenset({"alembic_version", "tickets", "users", "api_keys", "outbox"})

# The attachment files inside a backup, by content name.
FILES_TABLE = "backup_attachment_files"

Progress = Callable[[int, int], None]


class BackupError(Exception):
    """A backup or restore that cannot go ahead; the message says why and what to do."""


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    revision: str
    pages: int
    bytes: int
    files: int = 0


@dataclass(frozen=True)
class RestoreInfo:
    revision: str
    files: int


def sqlite_path(database_url: str) -> Path:
    """The database file behind an SQLite URL; BackupError for any other database."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        raise BackupError(
            f"DATABASE_URL is a {url.get_backend_name()} database: this command copies SQLite "
            "files only. Back up PostgreSQL with its own tools: pg_dump --format=custom "
            "(restore with pg_restore), or continuous archiving for point-in-time recovery."
        )
    if not url.database or url.database == ":memory:":
        raise BackupError("DATABASE_URL names an in-memory SQLite database: nothing to copy")
    return Path(url.database)


def backup(
    database_url: str,
    target: Path,
    *,
    progress: Progress | None = None,
    attachments_dir: Path | None = None,
) -> BackupInfo:
    """Copy the live database to `target` (which must not exist yet), consistently, with the
    attachment files under `attachments_dir`."""
    source_path = sqlite_path(database_url)
    if not source_path.is_file():
        raise BackupError(f"there is no database at {source_path}")
    if target.exists():
        raise BackupError(f"{target} already exists: choose a new file name")
    if not target.parent.is_dir():
        raise BackupError(f"the directory {target.parent} does not exist")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        with (
            closing(sqlite3.connect(source_path, isolation_level=None)) as source,
            closing(sqlite3.connect(partial, isolation_level=None)) as copy,
        ):
            # The read transaction (see the module doc): every step copies the same snapshot.
            source.execute("BEGIN")
            source.execute("SELECT count(*) FROM sqlite_master").fetchone()
            source.backup(
                copy,
                pages=PAGES_PER_STEP,
                progress=(lambda _status, left, total: progress(total - left, total))
                if progress
                else None,
            )
            source.execute("COMMIT")
            # A backup is one self-contained file, not a database with a write-ahead log.
            copy.execute("PRAGMA journal_mode=DELETE")
            files = _copy_files_in(copy, attachments_dir) if attachments_dir else 0
        revision = check_database(partial)
        os.replace(partial, target)
    except sqlite3.Error as exc:
        raise BackupError(f"the backup failed: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    size = target.stat().st_size
    return BackupInfo(path=target, revision=revision, pages=size // 4096, bytes=size, files=files)


def _copy_files_in(copy: sqlite3.Connection, attachments_dir: Path) -> int:
    store = BlobStore(attachments_dir)
    names = store.names()
    copy.execute(f"CREATE TABLE {FILES_TABLE} (name TEXT PRIMARY KEY, content BLOB NOT NULL)")
    copy.execute("BEGIN")
    for name in names:
        copy.execute(f"INSERT INTO {FILES_TABLE} VALUES (?, ?)", (name, store.read(name)))
    copy.execute("COMMIT")
    return len(names)


def _has_files(source: sqlite3.Connection) -> bool:
    tables = {name for (name,) in source.execute("SELECT name FROM sqlite_master")}
    return FILES_TABLE in tables


def _put_files_back(source: sqlite3.Connection, attachments_dir: Path | None) -> int:
    """Write the backup's files into the store, each checked against its name first: a
    verified file added to a content-addressed store changes nothing else, so this runs before
    the database is touched."""
    if attachments_dir is None or not _has_files(source):
        return 0  # a backup without attachment files (taken before they existed)
    store = BlobStore(attachments_dir)
    restored = 0
    for name, content in source.execute(f"SELECT name, content FROM {FILES_TABLE}"):
        if content_name(content) != name:
            raise BackupError(
                f"the backup's attachment file {name} does not match its content: the backup "
                "is damaged, nothing was restored"
            )
        store.put(content)
        restored += 1
    return restored


def known_revisions() -> set[str]:
    scripts = ScriptDirectory.from_config(alembic_config())
    return {script.revision for script in scripts.walk_revisions()}


def check_database(path: Path) -> str:
    """The migration revision of the ticketing database at `path`, or BackupError."""
    if not path.is_file():
        raise BackupError(f"there is no file at {path}")
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            (verdict,) = db.execute("PRAGMA quick_check").fetchone()
            if verdict != "ok":
                raise BackupError(f"{path} is a damaged SQLite database: {verdict}")
            tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
            missing = _REQUIRED_TABLES - tables
            if missing:
                raise BackupError(
                    f"{path} is not a ticketing database (no {', '.join(sorted(missing))} table)"
                )
            rows = db.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a readable SQLite database: {exc}") from exc
    revisions = {row[0] for row in rows}
    if len(revisions) != 1 or not revisions <= known_revisions():
        raise BackupError(
            f"{path} is at migration {', '.join(sorted(revisions)) or 'none'}, which this "
            "version of ticketing does not know: restore it with the version that made it"
        )
    return str(revisions.pop())


def restore(
    database_url: str, backup_path: Path, *, attachments_dir: Path | None = None
) -> RestoreInfo:
    """Replace the database with the backup at `backup_path` and put its attachment files
    back under `attachments_dir`, then migrate it to the latest revision. The services must
    be stopped."""
    target_path = sqlite_path(database_url)
    revision = check_database(backup_path)
    target_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with (
            closing(sqlite3.connect(f"{backup_path.resolve().as_uri()}?mode=ro", uri=True)) as src,
            closing(sqlite3.connect(target_path, isolation_level=None, timeout=0)) as target,
        ):
            # Leaving WAL mode needs the database to itself: it fails while any other process
            # (api, worker, beat, notifier) has it open, and then nothing has been changed.
            try:
                target.execute("PRAGMA journal_mode=DELETE").fetchone()
            except sqlite3.OperationalError as exc:
                raise BackupError(
                    f"{target_path} is in use ({exc}): stop the api, worker, beat and notifier "
                    "before restoring"
                ) from exc
            # Through SQLite, not a file copy: a stale -wal file can never be replayed onto
            # the restored pages.
            files = _put_files_back(src, attachments_dir)
            src.backup(target)
            if _has_files(src):
                target.execute(f"DROP TABLE {FILES_TABLE}")
                # Give the files' pages back: the database itself never holds them.
                target.execute("VACUUM")
    except (sqlite3.Error, OSError) as exc:
        raise BackupError(f"the restore failed: {exc}") from exc
    upgrade_to_head(database_url)
    return RestoreInfo(revision=revision, files=files)
