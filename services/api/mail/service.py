"""Who may read the mail log: admins (it holds every sender's address and subject)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.api.mail import repository
from services.api.mail.schemas import MailFilters, MailMessageOut
from shared.errors import Forbidden
from shared.models import Role, User


def list_messages(
    session: Session, *, viewer: User, filters: MailFilters
) -> tuple[list[MailMessageOut], int]:
    """A page of the mail log, newest first (admins only)."""
    if viewer.role is not Role.ADMIN:
        raise Forbidden("only admins read the mail log")
    rows, total = repository.find_messages(session, filters=filters)
    return [MailMessageOut.model_validate(row) for row in rows], total
