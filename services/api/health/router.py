from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from shared.db import new_session

router = APIRouter(tags=["health"])


@router.get("/health")
def health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/ready")
def ready() -> JSONResponse:
    """Readiness: the database answers (503 when it does not)."""
    try:
        with new_session(write=False) as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to reach the database means "not ready"
        body = {"status": "unavailable", "database": {"ok": False, "error": str(exc)[:200]}}
        return JSONResponse(body, status_code=503)
    return JSONResponse({"status": "ready", "database": {"ok": True}})
