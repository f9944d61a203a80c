"""Logging for every service: readable lines, or one JSON object a line (`LOG_FORMAT=json`).

What a line is about (the API request, the event a worker task or a webhook delivery works on,
the task) is kept in context variables, so code logs as usual and each line carries them:
`request_id`, `event_id`, `task`. Set them with `log_context(...)`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from shared.settings import Settings

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
event_id: ContextVar[str | None] = ContextVar("event_id", default=None)
task: ContextVar[str | None] = ContextVar("task", default=None)

_CONTEXT: dict[str, ContextVar[str | None]] = {
    "request_id": request_id,
    "event_id": event_id,
    "task": task,
}

_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"
_JSON_NAMES = {"asctime": "time", "levelname": "level", "name": "logger"}
# uvicorn adds an ANSI-coloured copy of some messages: noise in a JSON line.
_NOT_FIELDS = [*RESERVED_ATTRS, "color_message"]


def current_context() -> dict[str, str]:
    """The context fields that are set, by their names in a log line."""
    return {name: value for name, var in _CONTEXT.items() if (value := var.get()) is not None}


def set_context(**fields: str | None) -> list[Token[str | None]]:
    """Set context fields (`request_id`, `event_id`, `task`); `reset_context` undoes it."""
    return [_CONTEXT[name].set(value) for name, value in fields.items()]


def reset_context(tokens: list[Token[str | None]]) -> None:
    for token in reversed(tokens):
        token.var.reset(token)


@contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Every line logged inside the block (and in tasks it starts) carries these fields."""
    tokens = set_context(**fields)
    try:
        yield
    finally:
        reset_context(tokens)


def _utc_time(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message [request_id=… event_id=…]`."""

    def __init__(self) -> None:
        super().__init__(_TEXT_FORMAT)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _utc_time(record)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = current_context()
        if not context:
            return line
        fields = " ".join(f"{name}={value}" for name, value in context.items())
        first, newline, rest = line.partition("\n")  # after the message, before a traceback
        return f"{first} [{fields}]{newline}{rest}"


class JsonLineFormatter(JsonFormatter):
    """`{"time": …, "level": …, "logger": …, "message": …, "request_id": …, …}` on one line;
    a traceback goes in `exc_info`, a logging call's `extra` fields alongside."""

    def __init__(self) -> None:
        super().__init__(_JSON_FIELDS, rename_fields=_JSON_NAMES, reserved_attrs=_NOT_FIELDS)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _utc_time(record)

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        for name, value in current_context().items():
            log_data.setdefault(name, value)


def configure_logging(settings: Settings) -> None:
    """One handler on the root logger, to stderr, in the configured format; every library's
    logger (uvicorn's, Celery's) propagates to it. Safe to call again: it replaces its own."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter() if settings.log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    # Python's warnings too, so that a JSON log has no stray text lines from them.
    logging.captureWarnings(True)
    # Their own handlers would print each line a second time, in another format.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
