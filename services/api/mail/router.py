from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.api.dependencies import CurrentUser, DbSession
from services.api.mail import service
from services.api.mail.schemas import MailFilters, MailMessageOut
from services.api.schemas import Page

router = APIRouter(prefix="/mail", tags=["mail"])


@router.get("/messages", response_model=Page[MailMessageOut])
def list_mail_messages(
    session: DbSession, user: CurrentUser, filters: Annotated[MailFilters, Query()]
) -> Page[MailMessageOut]:
    """List the mail taken in, newest first, e.g. `?outcome=quarantined` (admins)."""
    items, total = service.list_messages(session, viewer=user, filters=filters)
    return Page(items=items, total=total, limit=filters.limit, offset=filters.offset)
