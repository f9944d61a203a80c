"""The `ticketing` command: migrate, seed, serve, and API keys."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn
from pydantic import ValidationError

from services.api.auth.keys import create_api_key
from services.api.seed import seed_sample_data
from shared.db import session_scope
from shared.errors import NotFound
from shared.migrate import upgrade_to_head
from shared.settings import Settings, get_settings

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


@app.command()
def seed() -> None:
    """Load the sample data into an empty database (does nothing otherwise)."""
    _settings()
    with session_scope() as session:
        loaded = seed_sample_data(session)
    typer.echo(
        "sample data loaded" if loaded else "database not empty: sample data skipped", err=True
    )


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Default: $HOST")] = None,
    port: Annotated[int | None, typer.Option(help="Default: $PORT")] = None,
) -> None:
    """Serve the REST API."""
    settings = _settings()
    uvicorn.run(
        "services.api.main:app",
        host=host or settings.host,
        port=port or settings.port,
        proxy_headers=True,
        log_level="info",
    )


@api_key_app.command("create")
def api_key_create(
    email: Annotated[str, typer.Option(help="The email of the user the key acts as")],
    name: Annotated[str, typer.Option(help="A label to recognise the key by")] = "",
) -> None:
    """Create an API key and print it alone on stdout (it is stored hashed: shown only once)."""
    _settings()
    try:
        with session_scope() as session:
            _row, key = create_api_key(session, email=email, name=name)
    except NotFound as exc:
        typer.echo(exc.detail, err=True)
        raise typer.Exit(1) from None
    typer.echo(key)
