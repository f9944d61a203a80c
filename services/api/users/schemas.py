from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from services.api.schemas import StrictInput
from shared.models import Role

BOT_DESCRIPTION = (
    "An AI agent: only agent users may be bots; escalation hands their tickets to humans."
)
MAIL_OPT_OUT_DESCRIPTION = (
    "No ticket mail (replies, resolutions, acknowledgements) is sent to them."
)
PersonName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    email: str
    role: Role
    active: bool
    is_bot: bool
    mail_opt_out: bool = Field(description=MAIL_OPT_OUT_DESCRIPTION)
    created_at: datetime


class UserCreate(StrictInput):
    name: PersonName
    email: EmailStr
    role: Role = Role.CUSTOMER
    active: bool = True
    is_bot: bool = Field(default=False, description=BOT_DESCRIPTION)


class UserUpdate(StrictInput):
    name: PersonName | None = None
    email: EmailStr | None = None
    role: Role | None = None
    active: bool | None = None
    is_bot: bool | None = Field(default=None, description=BOT_DESCRIPTION)
    mail_opt_out: bool | None = Field(default=None, description=MAIL_OPT_OUT_DESCRIPTION)


class ProfileUpdate(StrictInput):
    """What users change about themselves."""

    mail_opt_out: bool | None = Field(default=None, description=MAIL_OPT_OUT_DESCRIPTION)
