"""The `ticketing` command: migrate, seed, generate, serve, reindex, backup and restore, and API
keys."""

from __future__ import annotations

import os
import shutil
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer
from pydantic import ValidationError
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.api import backup as backups
from services.api.api_keys import repository as api_key_rows
from services.api.api_keys.schemas import MAX_LIFETIME_DAYS, key_state
from services.api.api_keys.service import revoke as revoke_key
from services.api.auth.keys import create_api_key, issue_api_key
from services.api.generate import generate as generate_tickets
from services.api.procfile_runner import run_procfile
from services.api.seed import seed_sample_data
from services.api.server import serve_app
from shared.article_search import rebuild_article_index
from shared.clock import utcnow
from shared.errors import NotFound
from shared.migrate import upgrade_to_head
from shared.models import ApiKey, Ticket, User
from shared.search_index import rebuild_index
from shared.settings import Settings, get_settings
from shared.unit_of_work import transaction

app = typer.Typer(
    help="Ticketing: a message-driven customer-support ticketing system.", no_args_is_help=True
)
api_key_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
app.add_typer(api_key_app, name="api-key")


def _settings() -> Settings:
    """The settings, or exit 2 naming each variable that is wrong."""
    try:
        return get_settings()
    except ValidationError as exc:
        for error in exc.errors():
            name = str(error["loc"][0]).upper() if error["loc"] else "settings"
            typer.echo(f"invalid setting {name}: {error['msg']}", err=True)
        raise typer.Exit(2) from None


@app.command()
def migrate() -> None:
    """Apply the database migrations (safe to run again)."""
    settings = _settings()
    upgrade_to_head(settings.database_url)
    typer.echo("database is at the latest migration", err=True)


DEMO_KEY_USERS = ("admin@example.com", "sarah.johnson@example.com", "john.doe@example.com")


@app.command()
def seed(
    demo_keys: Annotated[
        Path | None,
        typer.Option(help="Also write API keys for a demo admin, agent and customer here"),
    ] = None,
) -> None:
    """Load the sample data into an empty database (does nothing otherwise)."""
    _settings()
    with transaction() as session:
        loaded = seed_sample_data(session)
        keys = (
            [
                (email, create_api_key(session, email=email, name="demo")[1])
                for email in DEMO_KEY_USERS
            ]
            if loaded and demo_keys
            else []
        )
    if keys and demo_keys:
        demo_keys.parent.mkdir(parents=True, exist_ok=True)
        demo_keys.write_text("".join(f"{email:30} {key}\n" for email, key in keys))
        demo_keys.chmod(0o600)
    typer.echo(
        "sample data loaded" if loaded else "database not empty: sample data skipped", err=True
    )


@app.command()
def reindex(
    batch_size: Annotated[int, typer.Option(min=100, help="Tickets per statement")] = 5000,
) -> None:
    """Rebuild the ticket and article search indexes from the tables, in one transaction."""
    _settings()
    started = time.monotonic()
    with transaction() as session:
        last_id = session.scalar(select(func.max(Ticket.id))) or 0
        with typer.progressbar(length=last_id, label="indexing tickets") as bar:
            done = 0
            for upto in rebuild_index(session, batch_size=batch_size):
                bar.update(upto - done)
                done = upto
        articles = rebuild_article_index(session)
    elapsed = time.monotonic() - started
    typer.echo(f"indexed tickets 1-{last_id} and {articles} articles in {elapsed:.1f}s", err=True)


def _redis_address() -> tuple[str, int]:
    url = urlsplit(_settings().redis_url)
    return url.hostname or "127.0.0.1", url.port or 6379


@app.command("redis-check")
def redis_check() -> None:
    """Exit 0 if Redis answers at REDIS_URL, 1 otherwise."""
    try:
        Redis.from_url(_settings().redis_url, socket_connect_timeout=1).ping()
    except RedisError:
        raise typer.Exit(1) from None


@app.command("redis-serve")
def redis_serve(
    data_dir: Annotated[Path, typer.Option(help="Where Redis keeps its data")] = Path("data"),
) -> None:
    """Run a local redis-server on REDIS_URL's host and port (for `make run`)."""
    binary = shutil.which("redis-server")
    if binary is None:
        typer.echo(
            "redis-server is not installed: install it (Debian: apt-get install redis-server) "
            "or point REDIS_URL at a running Redis",
            err=True,
        )
        raise typer.Exit(1)
    host, port = _redis_address()
    data_dir.mkdir(parents=True, exist_ok=True)
    arguments = ["--bind", host, "--port", str(port), "--dir", str(data_dir.resolve())]
    os.execv(binary, [binary, *arguments, "--appendonly", "yes", "--save", "60 1"])


@app.command()
def start(
    processes: Annotated[
        list[str] | None, typer.Argument(help="Procfile process types. Default: all")
    ] = None,
    port: Annotated[
        int, typer.Option(help="PORT of the first process; each next one gets 100 more")
    ] = 8000,
    procfile: Annotated[Path, typer.Option(help="The Procfile")] = Path("Procfile"),
    env_file: Annotated[Path, typer.Option(help="Variables for every process, if present")] = Path(
        ".env"
    ),
) -> None:
    """Run the Procfile's processes, starting again any that exits (what `make run` runs)."""
    try:
        code = run_procfile(procfile, names=processes or [], port=port, env_file=env_file)
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(code)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Default: $HOST")] = None,
    port: Annotated[int | None, typer.Option(help="Default: $PORT")] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=1, help="Processes serving the port. Default: $API_WORKERS, or the cores"),
    ] = None,
) -> None:
    """Serve the REST API."""
    settings = _settings()
    serve_app(
        "services.api.main:app",
        settings=settings,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers or settings.api_workers,
    )


@api_key_app.command("create")
def api_key_create(
    email: Annotated[str, typer.Option(help="The email of the user the key acts as")],
    name: Annotated[
        str, typer.Option(help="A label to recognise the key by (at most 100 characters)")
    ] = "",
    expires_in_days: Annotated[
        int | None,
        typer.Option(min=1, max=MAX_LIFETIME_DAYS, help="Days until the key stops working"),
    ] = None,
) -> None:
    """Create an API key and print it alone on stdout (it is stored hashed: shown only once)."""
    _settings()
    if len(name) > 100:
        typer.echo("--name: at most 100 characters", err=True)
        raise typer.Exit(2)
    try:
        with transaction() as session:
            if expires_in_days is None:
                _row, key = create_api_key(session, email=email, name=name)
            else:
                user = _user_by_email(session, email)
                expires_at = utcnow() + timedelta(days=expires_in_days)
                _row, key = issue_api_key(session, user=user, name=name, expires_at=expires_at)
    except NotFound as exc:
        typer.echo(exc.detail, err=True)
        raise typer.Exit(1) from None
    typer.echo(key)


def _user_by_email(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise NotFound(f"no user with email {email!r}", field="email")
    return user


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


@api_key_app.command("list")
def api_key_list(
    email: Annotated[str | None, typer.Option(help="Only this user's keys")] = None,
) -> None:
    """List API keys (never their secrets): id, prefix, user, name, state and times (UTC)."""
    _settings()
    try:
        with transaction(write=False) as session:
            user_id = _user_by_email(session, email).id if email else None
            keys, _total = api_key_rows.list_keys(
                session, user_id=user_id, limit=1_000_000, offset=0
            )
            now = utcnow()
            lines = [
                f"{key.id:>6}  {key.prefix:12}  {key.user.email:30}  {key_state(key, now=now):8}"
                f"  {_when(key.created_at):16}  {_when(key.last_used_at):16}"
                f"  {_when(key.expires_at):16}  {key.name}"
                for key in keys
            ]
    except NotFound as exc:
        typer.echo(exc.detail, err=True)
        raise typer.Exit(1) from None
    header = (
        f"{'id':>6}  {'prefix':12}  {'user':30}  {'state':8}  {'created':16}  "
        f"{'last used':16}  {'expires':16}  name"
    )
    typer.echo("\n".join([header, *lines]))


@api_key_app.command("revoke")
def api_key_revoke(key_id: Annotated[int, typer.Argument(min=1, help="The key's id")]) -> None:
    """Revoke an API key: the next request with it is refused (revoking again is harmless)."""
    _settings()
    with transaction() as session:
        key = session.get(ApiKey, key_id)
        if key is None:
            typer.echo(f"no API key with id {key_id}", err=True)
            raise typer.Exit(1)
        revoke_key(session, key=key)
        line = f"revoked key {key.id} ({key.prefix}…, {key.user.email}) at {key.revoked_at}"
    typer.echo(line, err=True)


@app.command()
def backup(
    path: Annotated[Path, typer.Argument(help="The backup file to write (must not exist)")],
) -> None:
    """Copy the SQLite database and the attachment files to PATH while the services run (a
    consistent snapshot)."""
    settings = _settings()
    started = time.monotonic()
    try:
        with typer.progressbar(length=1, label="backing up", file=sys.stderr) as bar:

            def progress(done: int, total: int) -> None:
                bar.length = total
                bar.update(done - bar.pos)

            info = backups.backup(
                settings.database_url,
                path,
                progress=progress,
                attachments_dir=Path(settings.attachments_dir),
            )
    except backups.BackupError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"backed up {info.bytes / 1e6:.1f} MB at migration {info.revision} with "
        f"{info.files} attachment files to {info.path} in {time.monotonic() - started:.1f}s",
        err=True,
    )


@app.command()
def restore(
    path: Annotated[Path, typer.Argument(help="A file written by `ticketing backup`")],
) -> None:
    """Replace the SQLite database with a backup and put its attachment files back, then
    migrate it (stop every service first)."""
    settings = _settings()
    try:
        restored = backups.restore(
            settings.database_url, path, attachments_dir=Path(settings.attachments_dir)
        )
    except backups.BackupError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"restored {path} (taken at migration {restored.revision}) with {restored.files} "
        "attachment files and migrated it to the latest",
        err=True,
    )


@app.command()
def generate(
    tickets: Annotated[int, typer.Option(min=1, max=10_000_000, help="How many tickets")] = 100_000,
    customers: Annotated[int, typer.Option(min=1, help="Customers to spread them over")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed, the same data")] = 7,
) -> None:
    """Add generated tickets with comments and history (for benchmarks and demos), in bulk."""
    _settings()
    started = time.monotonic()
    with transaction() as session:
        seed_sample_data(session)  # the reference data the tickets point at, if missing
        with typer.progressbar(length=tickets, label="generating tickets") as bar:
            done = 0
            for upto in generate_tickets(session, tickets=tickets, customers=customers, seed=seed):
                bar.update(upto - done)
                done = upto
    typer.echo(f"generated {tickets} tickets in {time.monotonic() - started:.1f}s", err=True)
