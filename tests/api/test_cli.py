"""The `ticketing` command as an operator uses it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.models import Ticket
from tests.support.processes import BIN, ApiServer, ticketing


def test_api_key_create_prints_only_a_working_key(
    api_server: ApiServer, seeded_database: str
) -> None:
    output = ticketing(
        "api-key",
        "create",
        "--email",
        "mike.chen@example.com",
        "--name",
        "laptop",
        env={"DATABASE_URL": seeded_database},
    )
    key = output.strip()
    assert output == key + "\n"
    assert key.startswith("tkt_")
    me = httpx.get(f"{api_server.base_url}/users/me", headers={"Authorization": f"Bearer {key}"})
    assert me.json()["email"] == "mike.chen@example.com"


def test_api_key_create_for_unknown_email_fails_and_prints_no_key(seeded_database: str) -> None:
    result = subprocess.run(
        [str(BIN / "ticketing"), "api-key", "create", "--email", "nobody@example.com"],
        env={**os.environ, "DATABASE_URL": seeded_database},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert result.stdout == ""
    assert "nobody@example.com" in result.stderr


def test_migrate_and_seed_again_change_nothing(seeded_database: str, db: Session) -> None:
    before = db.scalar(select(func.count()).select_from(Ticket))
    ticketing("migrate", env={"DATABASE_URL": seeded_database})
    ticketing("seed", env={"DATABASE_URL": seeded_database})
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Ticket)) == before


def test_a_wrong_setting_stops_the_command_naming_the_variable(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(BIN / "ticketing"), "migrate"],
        env={**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "PORT": "not-a-port"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "PORT" in result.stderr
