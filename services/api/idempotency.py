"""Idempotency-Key on POST: a client's retry gets the first answer instead of a second row."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import timedelta

import orjson
from fastapi import Response
from pydantic import BaseModel
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shared.clock import utcnow
from shared.errors import Conflict, IdempotencyKeyReused
from shared.models import IdempotencyKey, User
from shared.settings import get_settings

REPLAY_HEADER = "Idempotent-Replayed"
# A call answered after several commits (a bulk update) claims its key in the first one: the
# row's status is 0 until the answer is stored. A claim older than the lease belongs to a call
# that died (the longest bulk call measured takes about 2 s), and the next retry takes it over.
IN_PROGRESS = 0
CLAIM_LEASE = timedelta(seconds=60)


def fingerprint(path: str, payload: BaseModel) -> str:
    """The same request means the same path and the same validated body."""
    canonical = orjson.dumps(
        {"path": path, "body": payload.model_dump(mode="json")}, option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(canonical).hexdigest()


def _stored(session: Session, *, user: User, key: str) -> IdempotencyKey | None:
    row = session.scalar(
        select(IdempotencyKey).where(IdempotencyKey.user_id == user.id, IdempotencyKey.key == key)
    )
    ttl = timedelta(hours=get_settings().idempotency_ttl_hours)
    if row is not None and row.created_at < utcnow() - ttl:
        session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == row.id))
        return None
    return row


def _still_running() -> Conflict:
    return Conflict(
        "a request with this Idempotency-Key is still running; retry in a moment",
        field="Idempotency-Key",
    )


def _key_row(
    user: User,
    key: str,
    path: str,
    payload: BaseModel,
    *,
    status_code: int,
    body: str,
    headers: str,
) -> IdempotencyKey:
    return IdempotencyKey(
        user_id=user.id,
        key=key,
        request_path=path,
        request_hash=fingerprint(path, payload),
        response_status=status_code,
        response_body=body,
        response_headers=headers,
    )


def replay(
    session: Session, *, user: User, key: str | None, path: str, payload: BaseModel
) -> Response | None:
    """The first answer to this key (IdempotencyKeyReused for another request); None when
    there is none (or no key)."""
    if not key:
        return None
    stored = _stored(session, user=user, key=key)
    if stored is None:
        return None
    if stored.request_hash != fingerprint(path, payload):
        raise IdempotencyKeyReused(
            "this Idempotency-Key was used with a different request", field="Idempotency-Key"
        )
    if stored.response_status == IN_PROGRESS:
        raise _still_running()
    headers = {**orjson.loads(stored.response_headers), REPLAY_HEADER: "true"}
    return Response(
        stored.response_body,
        status_code=stored.response_status,
        media_type="application/json",
        headers=headers,
    )


def claim(
    session: Session, *, user: User, key: str | None, path: str, payload: BaseModel
) -> Response | None:
    """The first answer to this key, or None once the key is marked as taken by this call (a
    concurrent retry then gets a 409 instead of running too); `answer(claimed=True)` stores the
    answer in the claim."""
    if not key:
        return None
    stored = _stored(session, user=user, key=key)
    if stored is not None and stored.response_status == IN_PROGRESS:
        if stored.request_hash == fingerprint(path, payload) and (
            stored.created_at < utcnow() - CLAIM_LEASE
        ):
            stored.created_at = utcnow()  # the call that claimed it died: this one takes over
            session.flush()
            return None
    if stored is not None:
        return replay(session, user=user, key=key, path=path, payload=payload)
    try:
        with session.begin_nested():
            session.add(
                _key_row(user, key, path, payload, status_code=IN_PROGRESS, body="", headers="{}")
            )
    except IntegrityError:  # another process claimed it between the read and the insert
        raise _still_running() from None
    return None


def answer(
    session: Session,
    *,
    user: User,
    key: str | None,
    path: str,
    payload: BaseModel,
    status_code: int,
    body_model: BaseModel,
    headers: dict[str, str],
    claimed: bool = False,
) -> Response:
    """The response to send, kept under `key` (when there is one) for its retries; `claimed`:
    in the row `claim` made."""
    body = orjson.dumps(body_model.model_dump(mode="json"))
    stored = _stored(session, user=user, key=key) if key and claimed else None
    if stored is not None:
        stored.response_status = status_code
        stored.response_body = body.decode()
        stored.response_headers = orjson.dumps(headers).decode()
        session.flush()
    elif key:
        session.add(
            _key_row(
                user,
                key,
                path,
                payload,
                status_code=status_code,
                body=body.decode(),
                headers=orjson.dumps(headers).decode(),
            )
        )
        session.flush()
    return Response(body, status_code=status_code, media_type="application/json", headers=headers)


def respond_once(
    session: Session,
    *,
    user: User,
    key: str | None,
    path: str,
    payload: BaseModel,
    status_code: int,
    action: Callable[[], tuple[BaseModel, dict[str, str]]],
) -> Response:
    """Run `action` (returning the body and headers) unless this key already has an answer."""
    replayed = replay(session, user=user, key=key, path=path, payload=payload)
    if replayed is not None:
        return replayed
    body_model, headers = action()
    return answer(
        session,
        user=user,
        key=key,
        path=path,
        payload=payload,
        status_code=status_code,
        body_model=body_model,
        headers=headers,
    )
