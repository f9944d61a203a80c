from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.orm import Session

from shared.migrate import alembic_config, upgrade_to_head
from shared.models import Ticket
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


def test_the_automations_migration_backfills_when_tickets_entered_their_status(
    tmp_path: Path,
) -> None:
    url = new_database_url(tmp_path)
    command.upgrade(alembic_config(url), "e1f5a4b30d13")  # just before automations
    engine = create_engine(url)
    opened, moved = "2026-01-05 09:00:00.000000+00:00", "2026-01-06 10:30:00.000000+00:00"
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO users (id, name, email, role, active, is_bot, created_at, "
                "updated_at) VALUES (1, 'A', 'a@example.com', 'agent', true, false, :at, :at)"
            ),
            {"at": opened},
        )
        connection.execute(
            text(
                "INSERT INTO categories (id, name, description, sla_hours, active, created_at) "
                "VALUES (1, 'C', '', 8, true, :at)"
            ),
            {"at": opened},
        )
        connection.execute(
            text(
                "INSERT INTO priority_levels (id, name, description, rank, sla_hours, colour) "
                "VALUES (1, 'P', '', 1, 8, '#000000')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO statuses (id, name, description, colour, is_closed, pauses_sla, "
                "position) VALUES (1, 'S', '', '#000000', false, false, 1)"
            )
        )
        for ticket_id in (1, 2):
            connection.execute(
                text(
                    "INSERT INTO tickets (id, title, description, requester_id, category_id, "
                    "priority_id, status_id, created_at, updated_at, sla_status, version) "
                    "VALUES (:id, 't', 'd', 1, 1, 1, 1, :at, :at, 'pending', 1)"
                ),
                {"id": ticket_id, "at": opened},
            )
        connection.execute(
            text(
                "INSERT INTO ticket_history (ticket_id, created_at, field, old_value, new_value, "
                "is_internal) VALUES (1, :at, 'status', 'Open', 'S', false)"
            ),
            {"at": moved},
        )
    engine.dispose()

    upgrade_to_head(url)

    engine = create_engine(url)
    with Session(engine) as session:
        found = dict(session.execute(select(Ticket.id, Ticket.status_changed_at)).all())
    engine.dispose()
    assert {ticket_id: at.strftime("%Y-%m-%d %H:%M") for ticket_id, at in found.items()} == {
        1: "2026-01-06 10:30",
        2: "2026-01-05 09:00",
    }
