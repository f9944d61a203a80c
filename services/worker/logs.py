"""The worker's logging: ours, not Celery's; each line of a task names the task and its event."""

from __future__ import annotations

from contextvars import Token
from typing import Any

from celery import Task, signals

from shared import tasks
from shared.logging_setup import configure_logging, reset_context, set_context
from shared.settings import get_settings

# Context set for each task under way in this process, undone when it ends.
_task_context: dict[str, list[Token[str | None]]] = {}


@signals.setup_logging.connect
def _configure(**_: Any) -> None:
    """Connected, this keeps Celery from installing its own handlers (worker and beat)."""
    configure_logging(get_settings())


def _event_id(task: Task[Any, Any], args: Any, kwargs: Any) -> str | None:
    if task.name != tasks.HANDLE_EVENT:
        return None
    if args:
        return str(args[0])
    value = (kwargs or {}).get("event_id")
    return str(value) if value is not None else None


@signals.task_prerun.connect
def _enter_task(task_id: str, task: Task[Any, Any], args: Any, kwargs: Any, **_: Any) -> None:
    _task_context[task_id] = set_context(task=task.name, event_id=_event_id(task, args, kwargs))


@signals.task_postrun.connect
def _leave_task(task_id: str, **_: Any) -> None:
    tokens = _task_context.pop(task_id, None)
    if tokens:
        reset_context(tokens)
