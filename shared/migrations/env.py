"""Alembic environment: migrates the database named by DATABASE_URL (or the caller's URL)."""

from alembic import context
from sqlalchemy import Connection

from shared.db import create_db_engine
from shared.models import Base
from shared.settings import Settings, get_settings

config = context.config
target_metadata = Base.metadata


def _settings() -> Settings:
    url = config.get_main_option("sqlalchemy.url")
    settings = get_settings()
    return settings.model_copy(update={"database_url": url}) if url else settings


def _include_name(name: str | None, type_: str, _parent: object) -> bool:
    # The search index is engine-specific SQL (an FTS5 table on SQLite), not a model.
    return not (type_ == "table" and name is not None and name.startswith("ticket_search"))


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_name=_include_name,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        url=_settings().database_url, target_metadata=target_metadata, literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        _run(connectable)
        return
    engine = create_db_engine(_settings())
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
