from __future__ import annotations

from fastapi import APIRouter, status

from services.api.dependencies import CurrentUser, DbSession
from services.api.reference import service
from services.api.reference.schemas import (
    CalendarCreate,
    CalendarOut,
    CalendarUpdate,
    CategoryCreate,
    CategoryOut,
    CategoryUpdate,
    PriorityCreate,
    PriorityOut,
    PriorityUpdate,
    StatusCreate,
    StatusOut,
    StatusUpdate,
)
from services.api.schemas import PathId
from shared.models import BusinessCalendar, Category, PriorityLevel, Status

router = APIRouter(tags=["reference data"])


@router.get("/categories", response_model=list[CategoryOut])
def list_categories(session: DbSession, _user: CurrentUser) -> list[Category]:
    """List ticket categories with their SLA hours."""
    return service.list_rows(session, Category)


@router.get("/categories/{category_id}", response_model=CategoryOut)
def get_category(category_id: PathId, session: DbSession, _user: CurrentUser) -> Category:
    """Get one category."""
    return service.get_row(session, Category, row_id=category_id)


@router.post("/categories", response_model=CategoryOut, status_code=status.HTTP_201_CREATED)
def create_category(body: CategoryCreate, session: DbSession, user: CurrentUser) -> Category:
    """Create a category (admins)."""
    return service.create_row(session, Category, actor=user, fields=body)


@router.patch("/categories/{category_id}", response_model=CategoryOut)
def update_category(
    category_id: PathId, body: CategoryUpdate, session: DbSession, user: CurrentUser
) -> Category:
    """Change a category (admins)."""
    return service.update_row(session, Category, actor=user, row_id=category_id, fields=body)


@router.get("/priorities", response_model=list[PriorityOut])
def list_priorities(session: DbSession, _user: CurrentUser) -> list[PriorityLevel]:
    """List priority levels, most urgent first."""
    return service.list_rows(session, PriorityLevel)


@router.get("/priorities/{priority_id}", response_model=PriorityOut)
def get_priority(priority_id: PathId, session: DbSession, _user: CurrentUser) -> PriorityLevel:
    """Get one priority level."""
    return service.get_row(session, PriorityLevel, row_id=priority_id)


@router.post("/priorities", response_model=PriorityOut, status_code=status.HTTP_201_CREATED)
def create_priority(body: PriorityCreate, session: DbSession, user: CurrentUser) -> PriorityLevel:
    """Create a priority level (admins)."""
    return service.create_row(session, PriorityLevel, actor=user, fields=body)


@router.patch("/priorities/{priority_id}", response_model=PriorityOut)
def update_priority(
    priority_id: PathId, body: PriorityUpdate, session: DbSession, user: CurrentUser
) -> PriorityLevel:
    """Change a priority level (admins)."""
    return service.update_row(session, PriorityLevel, actor=user, row_id=priority_id, fields=body)


@router.get("/statuses", response_model=list[StatusOut])
def list_statuses(session: DbSession, _user: CurrentUser) -> list[Status]:
    """List ticket statuses in workflow order."""
    return service.list_rows(session, Status)


@router.get("/statuses/{status_id}", response_model=StatusOut)
def get_status(status_id: PathId, session: DbSession, _user: CurrentUser) -> Status:
    """Get one status."""
    return service.get_row(session, Status, row_id=status_id)


@router.post("/statuses", response_model=StatusOut, status_code=status.HTTP_201_CREATED)
def create_status(body: StatusCreate, session: DbSession, user: CurrentUser) -> Status:
    """Create a status (admins)."""
    return service.create_row(session, Status, actor=user, fields=body)


@router.patch("/statuses/{status_id}", response_model=StatusOut)
def update_status(
    status_id: PathId, body: StatusUpdate, session: DbSession, user: CurrentUser
) -> Status:
    """Change a status (admins)."""
    return service.update_row(session, Status, actor=user, row_id=status_id, fields=body)


@router.get("/calendars", response_model=list[CalendarOut])
def list_calendars(session: DbSession, _user: CurrentUser) -> list[BusinessCalendar]:
    """List business-hours calendars (attach one to a category or priority)."""
    return service.list_rows(session, BusinessCalendar)


@router.get("/calendars/{calendar_id}", response_model=CalendarOut)
def get_calendar(calendar_id: PathId, session: DbSession, _user: CurrentUser) -> BusinessCalendar:
    """Get one business-hours calendar."""
    return service.get_row(session, BusinessCalendar, row_id=calendar_id)


@router.post("/calendars", response_model=CalendarOut, status_code=status.HTTP_201_CREATED)
def create_calendar(
    body: CalendarCreate, session: DbSession, user: CurrentUser
) -> BusinessCalendar:
    """Create a business-hours calendar: weekly opening hours, a time zone, holidays (admins)."""
    return service.create_row(session, BusinessCalendar, actor=user, fields=body)


@router.patch("/calendars/{calendar_id}", response_model=CalendarOut)
def update_calendar(
    calendar_id: PathId, body: CalendarUpdate, session: DbSession, user: CurrentUser
) -> BusinessCalendar:
    """Change a business-hours calendar (admins); tickets pick it up on their next change."""
    return service.update_row(
        session, BusinessCalendar, actor=user, row_id=calendar_id, fields=body
    )
