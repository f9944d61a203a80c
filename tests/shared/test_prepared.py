"""Prepared statements store and read exactly what SQLAlchemy's own execution does."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import String, bindparam, cast, func, insert, select

from shared.models import SlaStatus, Tag, Ticket
from shared.models.base import table_of
from shared.prepared import Prepared
from shared.unit_of_work import transaction

pytestmark = pytest.mark.usefixtures("seeded_database")

_TICKETS = table_of(Ticket)
_COLUMNS = (
    "title",
    "description",
    "requester_id",
    "assignee_id",
    "category_id",
    "priority_id",
    "status_id",
    "created_at",
    "updated_at",
    "sla_status",
    "version",
)


def _ticket(title: str, at: datetime) -> dict[str, object]:
    return {
        "title": title,
        "description": "prepared",
        "requester_id": 1,
        "assignee_id": None,
        "category_id": 1,
        "priority_id": 2,
        "status_id": 1,
        "created_at": at,
        "updated_at": at,
        "sla_status": SlaStatus.AT_RISK,
        "version": 1,
    }


def test_a_prepared_insert_stores_what_a_core_insert_stores() -> None:
    at = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
    prepared = Prepared(insert(_TICKETS).returning(_TICKETS.c.id), columns=_COLUMNS)
    with transaction() as session:
        ((prepared_id,),) = prepared.run(session, _ticket("prepared insert", at))
        core_id = session.execute(
            insert(_TICKETS).returning(_TICKETS.c.id), _ticket("core insert", at)
        ).scalar_one()
    columns = [_TICKETS.c.created_at, _TICKETS.c.sla_status, _TICKETS.c.assignee_id]
    with transaction(write=False) as session:
        rows = {
            row[0]: tuple(row[1:])
            for row in session.execute(
                select(_TICKETS.c.id, *columns).where(_TICKETS.c.id.in_([prepared_id, core_id]))
            )
        }
        # The raw stored text (SQLite) or value (PostgreSQL) is the same too.
        stored = session.execute(
            select(func.count(func.distinct(cast(_TICKETS.c.created_at, String())))).where(
                _TICKETS.c.id.in_([prepared_id, core_id])
            )
        ).scalar_one()
    assert rows[prepared_id] == rows[core_id] == (at, SlaStatus.AT_RISK, None)
    assert stored == 1


def test_a_prepared_select_reads_what_a_core_select_reads() -> None:
    query = (
        select(_TICKETS.c.id, _TICKETS.c.created_at, _TICKETS.c.sla_status, _TICKETS.c.version)
        .add_columns(func.aggregate_strings(_TICKETS.c.title, ",").label("titles"))
        .where(_TICKETS.c.id == bindparam("ticket_id"))
        .group_by(_TICKETS.c.id)
    )
    with transaction(write=False) as session:
        core = [tuple(row) for row in session.execute(query, {"ticket_id": 1})]
        prepared = Prepared(query).run(session, {"ticket_id": 1})
    assert prepared == core
    assert isinstance(prepared[0][1], datetime)
    assert prepared[0][1].tzinfo is not None
    assert isinstance(prepared[0][2], SlaStatus)


def test_a_statement_that_cannot_be_compiled_ahead_is_refused() -> None:
    expanding = Prepared(select(Tag.id).where(Tag.name.in_(bindparam("names", expanding=True))))
    defaults = Prepared(insert(_TICKETS), columns=["title"])  # created_at has a Python default
    with transaction(write=False) as session:
        with pytest.raises(ValueError, match="expanding"):
            expanding.run(session, {"names": ["a"]})
        with pytest.raises(ValueError, match="Python default"):
            defaults.run(session, {"title": "t"})
