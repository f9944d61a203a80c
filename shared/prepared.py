"""Statements compiled once per dialect and run on the driver's cursor.

The hot paths (creating a ticket, reading one, the worker's bookkeeping per event) run a
handful of small statements each. SQLAlchemy's execution layer around each of them (cache key,
compiled-cache lookup, execution context, parameter and result processing) cost several times
what SQLite spends running the statement. A `Prepared` statement does that work once per
dialect: it keeps the SQL text, the order of its parameters and their types' bind and result
processors, and runs on the DBAPI connection of the session's transaction. The types still
decide what is stored and read (UTC datetimes, enums), exactly as through SQLAlchemy.

Statements with expanding parameters (`IN` lists) cannot be compiled ahead: build those per
call, or run a prepared statement per item with `run_many`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import BindParameter

Processor = Callable[[Any], Any]
_GIVEN = object()


@dataclass(frozen=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]  # the parameters, in the order the SQL takes them
    keys: tuple[str, ...]  # per name: its key in the driver's parameters (named styles)
    positional: bool
    binders: tuple[Processor | None, ...]  # per name
    literals: tuple[Any, ...]  # per name: the statement's own value (_GIVEN: the caller's)
    readers: tuple[Processor | None, ...]  # per result column


class Prepared:
    """A Core statement compiled once per dialect, run with plain parameters."""

    def __init__(self, statement: ClauseElement, *, columns: Sequence[str] = ()) -> None:
        """`columns`: for an INSERT or UPDATE without values of its own, the columns every run
        gives (as a Core execution compiles for the keys of its parameters)."""
        self.statement = statement
        self.columns = list(columns)
        self._by_dialect: dict[str, _Compiled] = {}

    def _compiled(self, dialect: Dialect) -> _Compiled:
        compiled = self._by_dialect.get(dialect.name)
        if compiled is None:
            compiled = _compile(self.statement, dialect, columns=self.columns)
            self._by_dialect[dialect.name] = compiled
        return compiled

    def run(self, session: Session, parameters: Mapping[str, Any] | None = None) -> list[Any]:
        """Run once in the session's transaction; the result rows as tuples (none for DML
        without RETURNING)."""
        connection = session.connection()
        compiled = self._compiled(connection.dialect)
        cursor = connection.connection.cursor()
        try:
            cursor.execute(compiled.sql, _bound(compiled, parameters or {}))
            if cursor.description is None:
                return []
            return _read(compiled, cursor.fetchall())
        finally:
            cursor.close()

    def run_many(self, session: Session, rows: Iterable[Mapping[str, Any]]) -> None:
        """Run once per row of parameters (DML without RETURNING), in one driver call."""
        connection = session.connection()
        compiled = self._compiled(connection.dialect)
        bound = [_bound(compiled, row) for row in rows]
        if not bound:
            return
        cursor = connection.connection.cursor()
        try:
            cursor.executemany(compiled.sql, bound)  # type: ignore[arg-type]
        finally:
            cursor.close()


def _compile(statement: ClauseElement, dialect: Dialect, *, columns: list[str]) -> _Compiled:
    compiled = statement.compile(dialect=dialect, column_keys=columns or None)
    assert isinstance(compiled, SQLCompiler)
    binds = compiled.binds
    if any(bind.expanding for bind in binds.values()):
        raise ValueError("a statement with expanding parameters cannot be prepared")
    sql = compiled.string
    # Values SQLAlchemy renders into the text at execution (a separator, say) go in now.
    literal = set()
    for bind in compiled.literal_execute_params:
        name = compiled.bind_names[bind]
        rendered = compiled.render_literal_value(bind.effective_value, bind.type)
        sql = sql.replace(f"__[POSTCOMPILE_{name}]", rendered)
        literal.add(name)
    if compiled.insert_prefetch or compiled.update_prefetch:
        # Python-side defaults are computed by SQLAlchemy's execution context, skipped here.
        missing = [column.key for column in (*compiled.insert_prefetch, *compiled.update_prefetch)]
        raise ValueError(f"give every column with a Python default: {missing}")
    given = (compiled.positiontup or ()) if compiled.positional else binds
    names = tuple(name for name in given if name not in literal)
    # Named styles (psycopg's) escape some characters of a name in the text.
    keys = tuple(compiled.escaped_bind_names.get(name, name) for name in names)
    binders = tuple(_bind_processor(binds[name], dialect) for name in names)
    literals = tuple(
        _GIVEN if binds[name].required or binds[name].callable else binds[name].value
        for name in names
    )
    # A SELECT's columns, or what an INSERT, UPDATE or DELETE returns.
    returned = getattr(statement, "exported_columns", ())
    readers = tuple(
        column.type.dialect_impl(dialect).result_processor(dialect, None) for column in returned
    )
    return _Compiled(
        sql=sql,
        names=names,
        keys=keys,
        positional=compiled.positional,
        binders=binders,
        literals=literals,
        readers=readers,
    )


def _bind_processor(bind: BindParameter[Any], dialect: Dialect) -> Processor | None:
    return bind.type.dialect_impl(dialect).bind_processor(dialect)


def _bound(compiled: _Compiled, parameters: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
    values = []
    for name, binder, literal in zip(
        compiled.names, compiled.binders, compiled.literals, strict=True
    ):
        value = parameters[name] if literal is _GIVEN else parameters.get(name, literal)
        values.append(value if binder is None else binder(value))
    return values if compiled.positional else dict(zip(compiled.keys, values, strict=True))


def _read(compiled: _Compiled, rows: Sequence[Any]) -> list[Any]:
    readers = compiled.readers
    if not any(readers):
        return list(rows)
    return [
        tuple(
            value if reader is None else reader(value)
            for value, reader in zip(row, readers, strict=True)
        )
        for row in rows
    ]
