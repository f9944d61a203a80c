from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.system import System, running_system


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """A whole system of its own for each test module (some modules break theirs on purpose)."""
    with running_system(tmp_path_factory.mktemp("system")) as running:
        yield running
