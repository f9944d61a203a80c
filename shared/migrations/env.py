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


# The search indexes are engine-specific SQL (FTS5 tables on SQLite), not models.
_SEARCH_INDEX_TABLES = ("ticket_search", "article_search")


def _include_name(name: str | None, type_: str, _parent: object) -> bool:
    return not (type_ == "table" and name is not None and name.startswith(_SEARCH_INDEX_TABLES))


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
