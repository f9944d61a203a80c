from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, UploadFile, status
from fastapi.responses import FileResponse

from services.api.attachments import service
from services.api.attachments.schemas import AttachmentOut
from services.api.dependencies import ActingUser, CurrentUser, DbSession
from services.api.schemas import PathId
from shared.attachments import NewFile, ensure_size, ensure_upload_count
from shared.unit_of_work import run_sync

router = APIRouter(tags=["attachments"])

Files = Annotated[
    list[UploadFile],
    File(description="One or more files (`curl -F file=@report.pdf -F file=@photo.png`)."),
]


def _form_filename(sent: str | None) -> str | None:
    """The name as the user chose it: browsers and HTTP clients send `"` in a multipart
    filename as `%22` (HTML's form encoding; line breaks become %0D / %0A and stay refused as
    text, not decoded into control characters)."""
    return sent.replace("%22", '"') if sent is not None else None


async def _read(files: list[UploadFile]) -> list[NewFile]:
    """The uploaded files' bytes, each refused (413) before it is read when it is too large;
    the parts were spooled to disk while the body arrived."""
    ensure_upload_count(len(files))
    read = []
    for upload in files:
        ensure_size(upload.size or 0)
        read.append(
            NewFile(_form_filename(upload.filename), upload.content_type, await upload.read())
        )
    return read


@router.post(
    "/tickets/{ticket_ref}/attachments",
    response_model=list[AttachmentOut],
    status_code=status.HTTP_201_CREATED,
)
async def upload_ticket_attachments(
    ticket_ref: str, file: Files, session: DbSession, actor: ActingUser
) -> list[AttachmentOut]:
    """Attach files to a ticket (multipart `file` parts; anyone who may comment on it)."""
    files = await _read(file)
    return await run_sync(
        lambda: service.upload(session, actor=actor, ref=ticket_ref, comment_id=None, files=files)
    )


@router.post(
    "/tickets/{ticket_ref}/comments/{comment_id}/attachments",
    response_model=list[AttachmentOut],
    status_code=status.HTTP_201_CREATED,
)
async def upload_comment_attachments(
    ticket_ref: str, comment_id: PathId, file: Files, session: DbSession, actor: ActingUser
) -> list[AttachmentOut]:
    """Attach files to a comment (its author or staff; multipart `file` parts)."""
    files = await _read(file)
    return await run_sync(
        lambda: service.upload(
            session, actor=actor, ref=ticket_ref, comment_id=comment_id, files=files
        )
    )


@router.get("/tickets/{ticket_ref}/attachments", response_model=list[AttachmentOut])
def list_ticket_attachments(
    ticket_ref: str, session: DbSession, viewer: CurrentUser
) -> list[AttachmentOut]:
    """The files on a ticket and its comments that the viewer may see."""
    return service.list_for_ticket(session, viewer=viewer, ref=ticket_ref)


@router.get("/attachments/{attachment_id}", response_model=AttachmentOut)
def get_attachment(attachment_id: PathId, session: DbSession, viewer: CurrentUser) -> AttachmentOut:
    """An attachment's metadata."""
    return service.get_metadata(session, viewer=viewer, attachment_id=attachment_id)


@router.get(
    "/attachments/{attachment_id}/content",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The bytes."}},
)
def download_attachment(
    attachment_id: PathId, session: DbSession, viewer: CurrentUser
) -> FileResponse:
    """Download an attachment's bytes, always as a download (`Content-Disposition: attachment`)
    and in a type a browser does not run."""
    found = service.download(session, viewer=viewer, attachment_id=attachment_id)
    return FileResponse(found.path, media_type=found.media_type, headers=found.headers)
