from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from shared.clock import utcnow
from shared.db import new_session
from shared.publishing import outbox_backlog
from shared.redis_client import get_redis
from shared.settings import get_settings

router = APIRouter(tags=["health"])


@router.get("/health")
def health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


def _check_database() -> dict[str, Any]:
    try:
        with new_session(write=False) as session:
            session.execute(text("SELECT 1"))
        backlog = outbox_backlog()
    except Exception as exc:  # any failure to reach the database means "not ready"
        return {"ok": False, "error": str(exc)[:200]}
    age = (utcnow() - backlog.oldest_created_at).total_seconds() if backlog.oldest_created_at else 0
    return {
        "ok": True,
        "outbox": {"unpublished": backlog.unpublished, "oldest_age_seconds": round(age, 3)},
    }


def _check_redis() -> dict[str, Any]:
    try:
        get_redis().ping()
    except Exception as exc:  # unreachable, timed out, refused: all mean degraded
        return {"ok": False, "error": str(exc)[:200]}
    return {"ok": True}


@router.get("/ready")
def ready() -> JSONResponse:
    """Readiness: 503 without the database; 200 but degraded without Redis (writes still
    succeed, their events wait in the outbox)."""
    database = _check_database()
    redis = _check_redis()
    limits_enabled = get_settings().rate_limit_enabled
    body: dict[str, Any] = {
        "status": "ready" if database["ok"] and redis["ok"] else "degraded",
        "degraded": not redis["ok"],
        "database": {key: value for key, value in database.items() if key != "outbox"},
        "redis": redis,
        "outbox": database.get("outbox"),
        # Limits are counted in Redis: without it every request passes unlimited.
        "rate_limits": {"enabled": limits_enabled, "enforced": limits_enabled and redis["ok"]},
    }
    if not database["ok"]:
        body["status"] = "unavailable"
        return JSONResponse(body, status_code=503)
    return JSONResponse(body)
