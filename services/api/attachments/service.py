"""Attachments: who may add and see which files, and how they are served.

The rules of size, count, storage, history and events are `shared.attachments`' (the mail
service attaches through it too); this module adds the REST side's permissions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.orm import Session

from services.api.attachments import repository
from services.api.attachments.schemas import AttachmentOut
from services.api.tickets import access
from services.api.tickets.repository import get_ticket
from services.api.tickets.service import get_visible_ticket
from shared.attachments import (
    NewFile,
    add_attachments,
    ensure_upload_count,
    may_download,
    safe_content_type,
)
from shared.blob_store import BlobStore
from shared.errors import Forbidden, InvalidInput, NotFound, Unavailable
from shared.models import Attachment, TicketComment, User
from shared.settings import get_settings
from shared.text_rules import control_character, control_character_message


def attachment_out(attachment: Attachment) -> AttachmentOut:
    return AttachmentOut(
        id=attachment.id,
        ticket_id=attachment.ticket_id,
        comment_id=attachment.comment_id,
        filename=attachment.filename,
        content_type=attachment.content_type,
        size=attachment.size,
        uploaded_by=attachment.uploaded_by,
        source="mail" if attachment.source == "mail" else "api",
        created_at=attachment.created_at,
        content_url=f"/attachments/{attachment.id}/content",
    )


def _ensure_clean_names(files: Sequence[NewFile]) -> None:
    for new in files:
        char = control_character(new.filename or "")
        if char is not None:
            raise InvalidInput(
                f"the file name: {control_character_message(char, long_text=False)}",
                field="file",
            )


def upload(
    session: Session,
    *,
    actor: User,
    ref: str,
    comment_id: int | None,
    files: Sequence[NewFile],
) -> list[AttachmentOut]:
    """Attach files to a ticket (anyone who may comment on it) or to a comment (its author or
    staff; an internal note is as absent to a customer as a missing comment)."""
    ticket = get_visible_ticket(session, viewer=actor, ref=ref)
    ensure_upload_count(len(files))
    _ensure_clean_names(files)
    if comment_id is None:
        access.ensure_may_comment(actor, internal=False)
    else:
        comment = session.get(TicketComment, comment_id)
        if (
            comment is None
            or comment.ticket_id != ticket.id
            or (comment.is_internal and not actor.role.is_staff)
        ):
            raise NotFound(f"no comment {comment_id} on ticket {ref}", field="comment_id")
        if not actor.role.is_staff and comment.author_id != actor.id:
            raise Forbidden(
                "only the comment's author and staff may attach files to it", field="comment_id"
            )
    added = add_attachments(
        session,
        ticket_id=ticket.id,
        comment_id=comment_id,
        files=files,
        uploaded_by=actor,
        source="api",
    )
    return [attachment_out(attachment) for attachment in added]


def list_for_ticket(session: Session, *, viewer: User, ref: str) -> list[AttachmentOut]:
    ticket = get_visible_ticket(session, viewer=viewer, ref=ref)
    return [
        attachment_out(attachment)
        for attachment, comment in repository.attachments_of_ticket(session, ticket_id=ticket.id)
        if may_download(viewer, attachment, comment)
    ]


def comment_attachments(
    session: Session, *, comment_ids: Sequence[int]
) -> dict[int, list[AttachmentOut]]:
    """The attachments of comments the caller already may see, by comment id."""
    by_comment: dict[int, list[AttachmentOut]] = {}
    for attachment in repository.attachments_of_comments(session, comment_ids=comment_ids):
        assert attachment.comment_id is not None
        by_comment.setdefault(attachment.comment_id, []).append(attachment_out(attachment))
    return by_comment


def _visible_attachment(session: Session, *, viewer: User, attachment_id: int) -> Attachment:
    """An attachment the viewer may see; any other is as absent as a missing one."""
    found = repository.attachment_with_comment(session, attachment_id=attachment_id)
    if found is not None:
        attachment, comment = found
        ticket = get_ticket(session, ticket_id=attachment.ticket_id)
        if (
            ticket is not None
            and access.can_see(viewer, ticket)
            and may_download(viewer, attachment, comment)
        ):
            return attachment
    raise NotFound(f"no attachment {attachment_id}")


def get_metadata(session: Session, *, viewer: User, attachment_id: int) -> AttachmentOut:
    return attachment_out(_visible_attachment(session, viewer=viewer, attachment_id=attachment_id))


@dataclass(frozen=True)
class Download:
    path: Path
    media_type: str
    headers: dict[str, str]


def content_disposition(filename: str) -> str:
    """`attachment` with the UTF-8 name (RFC 6266 / 8187) and an ASCII fallback for old
    clients: non-ASCII, quotes, backslashes and separators become `_`."""
    fallback = "".join(
        ch if 0x20 <= ord(ch) < 0x7F and ch not in '"\\;' else "_" for ch in filename
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def download(session: Session, *, viewer: User, attachment_id: int) -> Download:
    attachment = _visible_attachment(session, viewer=viewer, attachment_id=attachment_id)
    path = BlobStore(get_settings().attachments_dir).path_of(attachment.blob)
    if not path.is_file():
        raise Unavailable(
            f"the file of attachment {attachment_id} is missing from ATTACHMENTS_DIR: restore "
            "it from a backup"
        )
    return Download(
        path=path,
        media_type=safe_content_type(attachment.content_type),
        headers={
            "Content-Disposition": content_disposition(attachment.filename),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private",
        },
    )
