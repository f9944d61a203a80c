from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, inspect

from shared.migrate import alembic_config, upgrade_to_head
from tests.support.databases import new_database_url


def test_migrations_build_exactly_the_models(tmp_path: Path) -> None:
    url = new_database_url(tmp_path)
    upgrade_to_head(url)
    command.check(alembic_config(url))  # raises if the models and migrations differ


def test_migrations_go_down_and_up_again(tmp_path: Path) -> None:
    url = new_database_url(tmp_path)
    upgrade_to_head(url)
    command.downgrade(alembic_config(url), "base")
    assert inspect(create_engine(url)).get_table_names() == ["alembic_version"]
    upgrade_to_head(url)
    assert "ticket_search" in inspect(create_engine(url)).get_table_names()
