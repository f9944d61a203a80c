"""Who is calling, known without a database query: API keys that recently authenticated.

Authentication runs after the rate limit check (it needs the database), so the check relies on
what earlier requests learnt: a key that authenticated is remembered by its hash for a while,
with its user's id and role (limits are per user: a user's keys share one budget). A key not
(yet) remembered is counted as its address, like a request without a key: a made-up bearer
gets no budget of its own."""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass

# How long a remembered key keeps its bucket without authenticating again; every successful
# authentication renews it and every 401 for it forgets it.
REMEMBER_SECONDS = 60.0
_MAX_REMEMBERED_KEYS = 10_000


@dataclass(frozen=True)
class KnownKey:
    user_id: int
    role: str
    remembered_at: float


@dataclass
class AuthenticationNote:
    """Filled in by `note_authenticated` during the request; read by the middleware after it."""

    user_id: int | None = None
    role: str | None = None


_current_note: ContextVar[AuthenticationNote | None] = ContextVar(
    "rate_limit_authentication_note", default=None
)


def start_note() -> AuthenticationNote:
    """A fresh note for this request; the thread running authentication gets a copy of the
    context, and so the same note object."""
    note = AuthenticationNote()
    _current_note.set(note)
    return note


def note_authenticated(*, user_id: int, role: str) -> None:
    """Authentication succeeded for this request's key (called from `authenticate`)."""
    note = _current_note.get()
    if note is not None:
        note.user_id = user_id
        note.role = role


class KnownKeys:
    """Key hash -> its user's id and role, for keys that authenticated in the last minute."""

    def __init__(self) -> None:
        self._keys: dict[str, KnownKey] = {}

    def get(self, key_hash: str) -> KnownKey | None:
        known = self._keys.get(key_hash)
        if known is None or time.monotonic() - known.remembered_at > REMEMBER_SECONDS:
            return None
        return known

    def remember(self, key_hash: str, *, user_id: int, role: str) -> None:
        if len(self._keys) >= _MAX_REMEMBERED_KEYS and key_hash not in self._keys:
            self._keys.clear()
        self._keys[key_hash] = KnownKey(user_id, role, time.monotonic())

    def forget(self, key_hash: str) -> None:
        self._keys.pop(key_hash, None)
