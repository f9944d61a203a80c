from __future__ import annotations

import pytest

from shared.settings import Settings


def test_cors_origins_accept_the_original_json_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", '["http://localhost:3000", "https://desk.example.com"]')
    assert Settings().cors_origins == ["http://localhost:3000", "https://desk.example.com"]


def test_cors_origins_accept_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORS_ORIGINS", "http://localhost:3000, https://desk.example.com")
    assert Settings().cors_origins == ["http://localhost:3000", "https://desk.example.com"]


def test_database_defaults_to_a_sqlite_file_under_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert Settings(_env_file=None).database_url == "sqlite:///./data/tickets.db"  # type: ignore[call-arg]
