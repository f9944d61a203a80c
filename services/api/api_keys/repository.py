"""All the SQL about API keys."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from shared.models import ApiKey


def list_keys(
    session: Session, *, user_id: int | None, limit: int, offset: int
) -> tuple[Sequence[ApiKey], int]:
    query = select(ApiKey)
    if user_id is not None:
        query = query.where(ApiKey.user_id == user_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    keys = session.scalars(query.order_by(ApiKey.id).limit(limit).offset(offset)).all()
    return keys, total


def get_key(session: Session, *, key_id: int) -> ApiKey | None:
    return session.get(ApiKey, key_id)


def record_last_use(session: Session, *, used_at_by_key: dict[int, datetime]) -> None:
    """Move each key's last_used_at forward (never back: another process may be ahead)."""
    for key_id, used_at in used_at_by_key.items():
        session.execute(
            update(ApiKey)
            .where(
                ApiKey.id == key_id,
                or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < used_at),
            )
            .values(last_used_at=used_at)
        )
