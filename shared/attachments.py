"""Attachments: files on tickets and comments, from the API and from mail.

`add_attachments` (or `add_attachment` for one file) is the one way in: it checks the limits,
stores the bytes in the content-addressed store, and writes the rows, the history and one
`ticket.updated` event (`changes.attachments`) in the caller's transaction. Who may download
which attachment is `may_download`; what type it is served as is `safe_content_type`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.blob_store import BlobStore
from shared.clock import utcnow
from shared.errors import InvalidInput, NotFound, TooLarge
from shared.event_types import Change, TicketUpdated
from shared.models import Attachment, Ticket, TicketComment, User
from shared.settings import get_settings
from shared.ticket_changes import HistoryEntry, record_ticket_change
from shared.ticket_view import staff_view, user_ref

Source = Literal["api", "mail"]

FILENAME_MAX_LENGTH = 200
FALLBACK_FILENAME = "attachment"
OCTET_STREAM = "application/octet-stream"
TEXT_PLAIN = "text/plain; charset=utf-8"

# Types a browser shows without running anything; served as themselves. Everything else
# (HTML, SVG, XML, JavaScript, …) is served as a download of opaque bytes.
_INERT_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"})
_TEXT_TYPES = frozenset({"text/plain", "text/csv"})
# RFC 9110 token characters, for "type/subtype".
_MEDIA_TYPE = re.compile(r"^[a-z0-9!#$&^_.+-]{1,100}/[a-z0-9!#$&^_.+-]{1,100}$")


@dataclass(frozen=True)
class NewFile:
    """One file to attach, as received."""

    filename: str | None
    content_type: str | None
    data: bytes


def clean_filename(raw: str | None) -> str:
    """The name to keep: the last path segment, without control or format characters (bidi
    overrides included), NFC, trimmed, at most FILENAME_MAX_LENGTH characters with the
    extension kept."""
    text = unicodedata.normalize("NFC", raw or "")
    text = re.split(r"[/\\]", text)[-1]
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] not in ("C", "Z") or ch == " ")
    text = text.strip().lstrip(".").strip()
    if not text:
        return FALLBACK_FILENAME
    if len(text) > FILENAME_MAX_LENGTH:
        stem, dot, extension = text.rpartition(".")
        if dot and stem and len(extension) <= 16:
            text = stem[: FILENAME_MAX_LENGTH - len(extension) - 1].rstrip() + "." + extension
        else:
            text = text[:FILENAME_MAX_LENGTH].rstrip()
    return text


def normalise_content_type(declared: str | None) -> str:
    """The declared media type, lower case and without parameters; octet-stream when absent
    or not a media type."""
    media_type = (declared or "").split(";", 1)[0].strip().lower()
    return media_type if _MEDIA_TYPE.match(media_type) else OCTET_STREAM


def safe_content_type(declared: str | None) -> str:
    """The Content-Type to serve an attachment with: an allow-listed inert type as itself,
    plain text as UTF-8 text, anything else as application/octet-stream."""
    media_type = normalise_content_type(declared)
    if media_type in _INERT_TYPES:
        return media_type
    if media_type in _TEXT_TYPES:
        return TEXT_PLAIN
    return OCTET_STREAM


def may_download(viewer: User, attachment: Attachment, comment: TicketComment | None) -> bool:
    """Whether `viewer`, who may see the attachment's ticket, may see the attachment: staff
    all of them; customers those on the ticket itself and on its public comments."""
    if attachment.comment_id is not None and (
        comment is None or comment.id != attachment.comment_id
    ):
        return False
    if viewer.role.is_staff:
        return True
    return comment is None or not comment.is_internal


def ensure_upload_count(count: int) -> None:
    """422 for an upload of no file or of more files than one upload may carry."""
    limit = get_settings().attachment_max_files_per_upload
    if count < 1:
        raise InvalidInput("no file: send one or more `file` parts", field="file")
    if count > limit:
        raise InvalidInput(
            f"{count} files in one upload: at most {limit} are allowed", field="file"
        )


def ensure_size(size: int) -> None:
    limit = get_settings().attachment_max_bytes
    if size > limit:
        raise TooLarge(f"a file is {size} bytes: at most {limit} bytes are allowed", field="file")


def attachment_count(session: Session, *, ticket_id: int, source: Source | None = None) -> int:
    query = select(func.count()).select_from(Attachment).where(Attachment.ticket_id == ticket_id)
    if source is not None:
        query = query.where(Attachment.source == source)
    return int(session.scalar(query) or 0)


def add_attachments(
    session: Session,
    *,
    ticket_id: int,
    comment_id: int | None,
    files: Sequence[NewFile],
    uploaded_by: User | int | None,
    source: Source,
    at: datetime | None = None,
) -> list[Attachment]:
    """Attach files to a ticket or one of its comments: limits checked (413 for a file too
    large, 422 for too many on the ticket), bytes stored, rows, history and one
    `ticket.updated` event (`changes.attachments`) written in the caller's transaction."""
    settings = get_settings()
    ticket = session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound(f"no ticket {ticket_id}", field="ticket_id")
    comment = None
    if comment_id is not None:
        comment = session.get(TicketComment, comment_id)
        if comment is None or comment.ticket_id != ticket_id:
            raise NotFound(f"no comment {comment_id} on this ticket", field="comment_id")
    for new in files:
        ensure_size(len(new.data))
    # The per-ticket limit is on what people upload: the originals and parts of the ticket's
    # mail (bounded per message) must not use it up, nor stop being kept once it is.
    existing = attachment_count(session, ticket_id=ticket_id, source="api")
    limit = settings.attachment_max_files_per_ticket
    if source == "api" and existing + len(files) > limit:
        raise InvalidInput(
            f"a ticket holds at most {limit} attachments; this one has {existing}",
            field="file",
        )
    uploader = session.get(User, uploaded_by) if isinstance(uploaded_by, int) else uploaded_by
    uploader_id = uploader.id if uploader is not None else None
    now = at or utcnow()
    store = BlobStore(settings.attachments_dir)
    added = [
        Attachment(
            ticket_id=ticket_id,
            comment_id=comment_id,
            filename=clean_filename(new.filename),
            content_type=normalise_content_type(new.content_type),
            size=len(new.data),
            # Written before the row commits: a rolled-back upload leaves an unreferenced
            # file, never a row without its bytes.
            blob=store.put(new.data),
            uploaded_by=uploader_id,
            source=source,
            created_at=now,
        )
        for new in files
    ]
    if not added:
        return added
    session.add_all(added)
    session.flush()
    internal = comment is not None and comment.is_internal
    summaries = [attachment_summary(attachment) for attachment in added]
    record_ticket_change(
        session,
        ticket_id=ticket_id,
        actor_id=uploader_id,
        at=now,
        history=[
            HistoryEntry("attachment", None, f"{a.filename} ({a.id})", internal=internal)
            for a in added
        ],
        events=[
            TicketUpdated(
                ticket=staff_view(session, ticket),
                actor=user_ref(uploader) if uploader is not None else None,
                changes={"attachments": Change(from_=None, to=summaries)},
            )
        ],
    )
    return added


def add_attachment(
    session: Session,
    *,
    ticket_id: int,
    comment_id: int | None,
    filename: str | None,
    content_type: str | None,
    data: bytes,
    uploaded_by: User | int | None,
    source: Source,
) -> Attachment:
    """Attach one file (see `add_attachments`)."""
    (attachment,) = add_attachments(
        session,
        ticket_id=ticket_id,
        comment_id=comment_id,
        files=[NewFile(filename, content_type, data)],
        uploaded_by=uploaded_by,
        source=source,
    )
    return attachment


def copy_comment_attachments(
    session: Session, *, from_comment_id: int, to_ticket_id: int, to_comment_id: int
) -> int:
    """Give a copied comment (a merge's) the files of the original: new rows naming the same
    stored bytes, outside the per-ticket limit (nothing is uploaded); the copy's history and
    events are the caller's. Returns how many."""
    originals = session.scalars(
        select(Attachment).where(Attachment.comment_id == from_comment_id).order_by(Attachment.id)
    ).all()
    session.add_all(
        Attachment(
            ticket_id=to_ticket_id,
            comment_id=to_comment_id,
            filename=original.filename,
            content_type=original.content_type,
            size=original.size,
            blob=original.blob,
            uploaded_by=original.uploaded_by,
            source=original.source,
            created_at=original.created_at,
        )
        for original in originals
    )
    return len(originals)


def attachment_summary(attachment: Attachment) -> dict[str, object]:
    """What an event says of an attachment."""
    return {
        "id": attachment.id,
        "filename": attachment.filename,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "comment_id": attachment.comment_id,
    }
