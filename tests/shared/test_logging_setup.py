"""Log lines: JSON objects or text, each carrying the request, event and task it is about."""

from __future__ import annotations

import json
import logging
import sys

from shared.logging_setup import JsonLineFormatter, TextFormatter, log_context


def _record(message: str = "ticket %s saved", *args: object) -> logging.LogRecord:
    return logging.LogRecord(
        "services.api.tickets", logging.INFO, __file__, 1, message, args or ("TKT-001",), None
    )


def test_a_json_line_has_time_level_logger_and_message() -> None:
    line = json.loads(JsonLineFormatter().format(_record()))
    assert line["level"] == "INFO"
    assert line["logger"] == "services.api.tickets"
    assert line["message"] == "ticket TKT-001 saved"
    assert line["time"].endswith("+00:00")
    assert "request_id" not in line
    assert "event_id" not in line


def test_a_json_line_carries_the_context_it_was_logged_in() -> None:
    with log_context(event_id="evt_1", task="worker.handle_event"):
        line = json.loads(JsonLineFormatter().format(_record()))
    assert line["event_id"] == "evt_1"
    assert line["task"] == "worker.handle_event"
    assert "event_id" not in json.loads(JsonLineFormatter().format(_record()))


def test_a_json_line_stays_one_line_with_a_traceback() -> None:
    try:
        raise ValueError("broken\nacross lines")
    except ValueError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "failed", None, exc_info=sys.exc_info()
        )
    formatted = JsonLineFormatter().format(record)
    assert "\n" not in formatted
    assert "ValueError: broken" in json.loads(formatted)["exc_info"]


def test_a_text_line_names_its_context_after_the_message() -> None:
    with log_context(request_id="abc123"):
        line = TextFormatter().format(_record())
    assert line.endswith("INFO services.api.tickets: ticket TKT-001 saved [request_id=abc123]")
