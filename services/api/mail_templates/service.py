"""The mail templates admins edit: checked by rendering them against sample data."""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.api.mail_templates.schemas import MailTemplateOut, MailTemplateUpdate
from shared.clock import utcnow
from shared.errors import Forbidden, InvalidInput, NotFound
from shared.mail_out.templates import (
    DEFAULTS,
    DESCRIPTIONS,
    VARIABLES,
    TemplateInvalid,
    TemplateText,
    check,
)
from shared.models import MailKind, MailTemplate, Role, User


def _ensure_admin(user: User) -> None:
    if user.role is not Role.ADMIN:
        raise Forbidden("only admins manage mail templates")


def _kind(name: str) -> MailKind:
    try:
        return MailKind(name)
    except ValueError:
        known = ", ".join(kind.value for kind in MailKind)
        raise NotFound(f"no mail template named {name!r} (there are: {known})") from None


def _out(kind: MailKind, edited: MailTemplate | None) -> MailTemplateOut:
    text = DEFAULTS[kind] if edited is None else edited
    return MailTemplateOut(
        name=kind,
        description=DESCRIPTIONS[kind],
        subject=text.subject,
        text=text.text,
        html=text.html,
        customized=edited is not None,
        variables=VARIABLES[kind],
        updated_at=edited.updated_at if edited else None,
        updated_by_id=edited.updated_by_id if edited else None,
    )


def list_templates(session: Session, *, viewer: User) -> list[MailTemplateOut]:
    _ensure_admin(viewer)
    return [_out(kind, session.get(MailTemplate, kind.value)) for kind in MailKind]


def get_template(session: Session, *, viewer: User, name: str) -> MailTemplateOut:
    _ensure_admin(viewer)
    kind = _kind(name)
    return _out(kind, session.get(MailTemplate, kind.value))


def put_template(
    session: Session, *, actor: User, name: str, fields: MailTemplateUpdate
) -> MailTemplateOut:
    """Replace a template; one that does not render (a syntax error, a variable it does not
    have) is refused, naming the part at fault."""
    _ensure_admin(actor)
    kind = _kind(name)
    try:
        check(kind, TemplateText(subject=fields.subject, text=fields.text, html=fields.html))
    except TemplateInvalid as exc:
        raise InvalidInput(f"the template does not render: {exc.message}", field=exc.field) from exc
    edited = session.get(MailTemplate, kind.value)
    if edited is None:
        edited = MailTemplate(name=kind.value)
        session.add(edited)
    edited.subject, edited.text, edited.html = fields.subject, fields.text, fields.html
    edited.updated_by_id = actor.id
    edited.updated_at = utcnow()
    session.flush()
    return _out(kind, edited)


def reset_template(session: Session, *, actor: User, name: str) -> MailTemplateOut:
    """Back to the shipped default."""
    _ensure_admin(actor)
    kind = _kind(name)
    edited = session.get(MailTemplate, kind.value)
    if edited is not None:
        session.delete(edited)
        session.flush()
    return _out(kind, None)
