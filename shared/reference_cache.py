"""Reference data from memory: categories, priorities, statuses, users and API keys.

Each process keeps what it has read for as long as the one-row `reference_version` says the
same number. Any transaction that changes one of those tables through the ORM bumps the number
in that same transaction (a `before_flush` hook), so every process, which reads the number at
the start of each request (one primary-key row instead of the key, user and reference queries),
sees the change on its next request.

Unknown keys and users are never remembered: a row created later is found then. Cached users are
detached ORM instances that are never attached anywhere; a request gets its own copy
(`session.merge(..., load=False)`, no query).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session, make_transient_to_detached

from shared.models import (
    ApiKey,
    BusinessCalendar,
    Category,
    CustomField,
    CustomFieldType,
    PriorityLevel,
    ReferenceVersion,
    Role,
    Status,
    Trigger,
    User,
)
from shared.sla import BusinessHours, business_hours

# Triggers ride on the version too: the worker keeps the active ones in memory
# (shared/triggers.py), so a batch of events with no change to them reads none.
_TRACKED = (ApiKey, BusinessCalendar, Category, CustomField, PriorityLevel, Status, Trigger, User)
_VERSION_SQL = "SELECT version FROM reference_version WHERE id = 1"
_VERSION_SEEN = "reference_version"


@dataclass(frozen=True)
class KeyRecord:
    """What authenticating a key needs to know of it."""

    id: int
    user_id: int
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True)
class UserRecord:
    id: int
    name: str
    email: str
    role: Role
    active: bool
    is_bot: bool


@dataclass(frozen=True)
class CategoryRecord:
    id: int
    name: str
    active: bool
    sla_hours: float
    calendar_id: int | None


@dataclass(frozen=True)
class PriorityRecord:
    id: int
    name: str
    rank: int
    colour: str
    sla_hours: float
    first_response_hours: float | None
    calendar_id: int | None


@dataclass(frozen=True)
class StatusRecord:
    id: int
    name: str
    colour: str
    is_closed: bool
    pauses_sla: bool
    position: int


@dataclass(frozen=True)
class CustomFieldRecord:
    id: int
    key: str
    label: str
    field_type: CustomFieldType
    options: tuple[str, ...]
    category_ids: frozenset[int]  # empty: every category
    required_on_create: bool
    required_to_resolve: bool
    customer_visible: bool
    customer_editable: bool
    active: bool

    def applies_to(self, category_id: int) -> bool:
        return not self.category_ids or category_id in self.category_ids


def _custom_field_record(field: CustomField) -> CustomFieldRecord:
    return CustomFieldRecord(
        id=field.id,
        key=field.key,
        label=field.label,
        field_type=field.field_type,
        options=tuple(field.options),
        category_ids=frozenset(field.category_ids),
        required_on_create=field.required_on_create,
        required_to_resolve=field.required_to_resolve,
        customer_visible=field.customer_visible,
        customer_editable=field.customer_editable,
        active=field.active,
    )


@dataclass(frozen=True)
class ReferenceData:
    """Categories, priorities, statuses and business calendars by id, with the defaults
    derived from them."""

    categories: dict[int, CategoryRecord]
    priorities: dict[int, PriorityRecord]
    statuses: dict[int, StatusRecord]
    calendars: dict[int, BusinessHours]
    # Every custom field, archived ones too (their stored values are decoded, never shown).
    custom_fields: dict[int, CustomFieldRecord]

    @cached_property
    def active_custom_fields(self) -> dict[str, CustomFieldRecord]:
        """The fields tickets have now, by key."""
        return {field.key: field for field in self.custom_fields.values() if field.active}

    def calendar_for(self, *, category_id: int, priority_id: int) -> BusinessHours | None:
        """The category's calendar wins over the priority's; none means round the clock."""
        calendar_id = (
            self.categories[category_id].calendar_id or self.priorities[priority_id].calendar_id
        )
        return self.calendars[calendar_id] if calendar_id else None

    @property
    def default_priority(self) -> PriorityRecord | None:
        """The middle of the urgency ranking (Medium in the sample data)."""
        ranked = sorted(self.priorities.values(), key=lambda p: (p.rank, p.id))
        return ranked[len(ranked) // 2] if ranked else None

    @property
    def open_status(self) -> StatusRecord | None:
        """Where new and re-opened tickets start: the first open status (Open)."""
        open_ones = [s for s in self.statuses.values() if not s.is_closed]
        return min(open_ones, key=lambda s: (s.position, s.id), default=None)

    @property
    def terminal_status_id(self) -> int | None:
        """The last closed status in the workflow (Closed): entering it sets closed_at."""
        closed = [s for s in self.statuses.values() if s.is_closed]
        return max(closed, key=lambda s: (s.position, s.id)).id if closed else None


def _read_version(session: Session) -> int:
    """The version row, read on the driver's own cursor: it is read by every request, and the
    statement needs nothing of SQLAlchemy's (no parameter, no type, no compilation), which
    cost several times the query itself."""
    cursor = session.connection().connection.cursor()
    try:
        cursor.execute(_VERSION_SQL)
        row = cursor.fetchone()
    finally:
        cursor.close()
    assert row is not None  # the migration inserts the one row
    return int(row[0])


class ReferenceCache:
    """This process's copy; safe to use from the event loop and from worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: int | None = None
        self._keys: dict[str, KeyRecord] = {}
        self._users: dict[int, tuple[UserRecord, User]] = {}
        self._reference: ReferenceData | None = None

    def forget(self) -> None:
        """Drop everything (this process changed reference data itself)."""
        with self._lock:
            self._keys, self._users, self._reference = {}, {}, None
            self._version = None

    def _version_in(self, session: Session) -> int:
        """The version in `session`'s transaction (read once per transaction), forgetting
        everything if it moved."""
        version = session.info.get(_VERSION_SEEN)
        if version is None:
            version = _read_version(session)
            session.info[_VERSION_SEEN] = version
            if version != self._version:
                with self._lock:
                    self._keys, self._users, self._reference = {}, {}, None
                    self._version = version
        return int(version)

    def version(self, session: Session) -> int:
        """The reference version in `session`'s transaction (read once per transaction)."""
        return self._version_in(session)

    def _remember(self, version: int, store: dict[Any, Any], key: Any, value: Any) -> None:
        with self._lock:
            if version == self._version:  # not read under a version that has moved on since
                store[key] = value

    def api_key(self, session: Session, *, key_hash: str) -> KeyRecord | None:
        version = self._version_in(session)
        record = self._keys.get(key_hash)
        if record is None:
            row = session.execute(
                select(
                    ApiKey.id,
                    ApiKey.user_id,
                    ApiKey.expires_at,
                    ApiKey.revoked_at,
                    ApiKey.last_used_at,
                ).where(ApiKey.key_hash == key_hash)
            ).first()
            if row is None:
                return None
            record = KeyRecord(*row)
            self._remember(version, self._keys, key_hash, record)
        return record

    def _cached_user(self, session: Session, user_id: int) -> tuple[UserRecord, User] | None:
        version = self._version_in(session)
        cached = self._users.get(user_id)
        if cached is None:
            row = session.execute(select(*User.__table__.columns).where(User.id == user_id)).first()
            if row is None:
                return None
            detached = User(**row._asdict())
            make_transient_to_detached(detached)
            record = UserRecord(row.id, row.name, row.email, Role(row.role), row.active, row.is_bot)
            cached = (record, detached)
            self._remember(version, self._users, user_id, cached)
        return cached

    def person(self, session: Session, *, user_id: int) -> UserRecord | None:
        """A user's names and role, read-only (no ORM object)."""
        cached = self._cached_user(session, user_id)
        return cached[0] if cached else None

    def user(self, session: Session, *, user_id: int) -> User | None:
        """The user as an ORM object belonging to `session` (no query when cached)."""
        cached = self._cached_user(session, user_id)
        return session.merge(cached[1], load=False) if cached else None

    def reference(self, session: Session) -> ReferenceData:
        version = self._version_in(session)
        data = self._reference
        if data is None:
            data = ReferenceData(
                categories={
                    row.id: CategoryRecord(*row)
                    for row in session.execute(
                        select(
                            Category.id,
                            Category.name,
                            Category.active,
                            Category.sla_hours,
                            Category.calendar_id,
                        )
                    )
                },
                priorities={
                    row.id: PriorityRecord(*row)
                    for row in session.execute(
                        select(
                            PriorityLevel.id,
                            PriorityLevel.name,
                            PriorityLevel.rank,
                            PriorityLevel.colour,
                            PriorityLevel.sla_hours,
                            PriorityLevel.first_response_hours,
                            PriorityLevel.calendar_id,
                        )
                    )
                },
                calendars={
                    calendar.id: business_hours(calendar)
                    for calendar in session.scalars(select(BusinessCalendar))
                },
                custom_fields={
                    field.id: _custom_field_record(field)
                    for field in session.scalars(select(CustomField).order_by(CustomField.id))
                },
                statuses={
                    row.id: StatusRecord(*row)
                    for row in session.execute(
                        select(
                            Status.id,
                            Status.name,
                            Status.colour,
                            Status.is_closed,
                            Status.pauses_sla,
                            Status.position,
                        )
                    )
                },
            )
            with self._lock:
                if version == self._version:
                    self._reference = data
        return data


reference_cache = ReferenceCache()


def bump_reference_version(session: Session) -> None:
    """Tell every process that reference data changed (for writes that bypass the ORM)."""
    # This process forgets at once: a later request of this very transaction (a batch) must
    # not be answered from what it remembered before the change.
    session.info.pop(_VERSION_SEEN, None)
    reference_cache.forget()
    session.execute(
        update(ReferenceVersion)
        .where(ReferenceVersion.id == 1)
        .values(version=ReferenceVersion.version + 1)
    )


@event.listens_for(Session, "before_flush")
def _bump_on_reference_change(session: Session, _context: Any, _instances: Any) -> None:
    changed = [
        *session.new,
        *session.deleted,
        *(row for row in session.dirty if session.is_modified(row, include_collections=False)),
    ]
    if any(isinstance(row, _TRACKED) for row in changed):
        bump_reference_version(session)
