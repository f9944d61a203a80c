"""`last_used_at` without a write per request.

Authentication loads the key's row anyway: when its last_used_at is more than a minute old, the
key is noted here (once a minute per key and process) and a background thread writes the time
in a short transaction of its own. A read request never writes, and never waits for a write.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from services.api.api_keys.repository import record_last_use
from shared.unit_of_work import transaction

logger = logging.getLogger(__name__)

# How stale last_used_at may get: "used today" and "unused for months" are what people ask.
RECORD_EVERY = timedelta(minutes=1)


class KeyUseRecorder:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[int, datetime] = {}
        # key id -> monotonic time it was last noted: another request with the same stale row
        # (loaded before the write landed) is not noted again.
        self._noted: dict[int, float] = {}
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def note(self, *, key_id: int, last_used_at: datetime | None, now: datetime) -> None:
        if last_used_at is not None and now - last_used_at < RECORD_EVERY:
            return
        moment = time.monotonic()
        with self._lock:
            noted = self._noted.get(key_id)
            if noted is not None and moment - noted < RECORD_EVERY.total_seconds():
                return
            self._noted[key_id] = moment
            self._pending[key_id] = now
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="api-key-last-use", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            with self._lock:
                pending, self._pending = self._pending, {}
                horizon = time.monotonic() - RECORD_EVERY.total_seconds()
                self._noted = {key: at for key, at in self._noted.items() if at > horizon}
            try:
                with transaction() as session:
                    record_last_use(session, used_at_by_key=pending)
            except SQLAlchemyError as exc:
                # Best effort: the next use after the window records it again.
                logger.warning("could not record API key use: %s", exc)
                with self._lock:
                    for key_id in pending:
                        self._noted.pop(key_id, None)


recorder = KeyUseRecorder()
