from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from services.api.dependencies import CurrentUser, DbSession
from services.api.mail_templates import service
from services.api.mail_templates.schemas import MailTemplateOut, MailTemplateUpdate

router = APIRouter(prefix="/mail-templates", tags=["mail out"])

TemplateName = Annotated[
    str, Path(max_length=50, description="acknowledgement, reply or resolution")
]


@router.get("", response_model=list[MailTemplateOut])
def list_mail_templates(session: DbSession, viewer: CurrentUser) -> list[MailTemplateOut]:
    """List the mail templates, with the variables each may use (admins)."""
    return service.list_templates(session, viewer=viewer)


@router.get("/{name}", response_model=MailTemplateOut)
def get_mail_template(
    name: TemplateName, session: DbSession, viewer: CurrentUser
) -> MailTemplateOut:
    """Get one mail template (admins)."""
    return service.get_template(session, viewer=viewer, name=name)


@router.put("/{name}", response_model=MailTemplateOut)
def put_mail_template(
    name: TemplateName, body: MailTemplateUpdate, session: DbSession, actor: CurrentUser
) -> MailTemplateOut:
    """Replace a mail template; it must render against sample data, else 422 naming the part
    (admins)."""
    return service.put_template(session, actor=actor, name=name, fields=body)


@router.delete("/{name}", response_model=MailTemplateOut)
def reset_mail_template(
    name: TemplateName, session: DbSession, actor: CurrentUser
) -> MailTemplateOut:
    """Reset a mail template to the shipped default (admins)."""
    return service.reset_template(session, actor=actor, name=name)
