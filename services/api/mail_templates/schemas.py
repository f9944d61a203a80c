from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from services.api.schemas import LONG_TEXT, StrictInput
from shared.models import MailKind

MAX_TEMPLATE_CHARS = 100_000

TemplateSubject = Annotated[str, StringConstraints(min_length=1, max_length=1000)]
TemplateBody = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_TEMPLATE_CHARS), LONG_TEXT
]


class MailTemplateOut(BaseModel):
    name: MailKind = Field(description="`acknowledgement`, `reply` or `resolution`.")
    description: str = Field(description="When the template is used.")
    subject: str = Field(description="Jinja2, rendered as one line.")
    text: str = Field(description="Jinja2: the plain-text part.")
    html: str = Field(description="Jinja2 with autoescape: the HTML part.")
    customized: bool = Field(description="False: the shipped default.")
    variables: dict[str, str] = Field(description="The variables it may use, and what they hold.")
    updated_at: datetime | None
    updated_by_id: int | None


class MailTemplateUpdate(StrictInput):
    subject: TemplateSubject
    text: TemplateBody
    html: TemplateBody
