"""The attachments core: names, types, limits and the one write path (also used by mail)."""

from __future__ import annotations

import json
from typing import Literal

import pytest
from sqlalchemy import select

from shared.attachments import (
    FILENAME_MAX_LENGTH,
    NewFile,
    add_attachment,
    add_attachments,
    attachment_count,
    clean_filename,
    normalise_content_type,
    safe_content_type,
)
from shared.blob_store import BlobStore
from shared.errors import InvalidInput, NotFound, TooLarge
from shared.models import Attachment, OutboxEvent, Ticket, TicketHistory, User
from shared.settings import get_settings
from shared.unit_of_work import transaction


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\photo.png", "photo.png"),
        ("evil\x00name\x1b.txt", "evilname.txt"),
        ("bidi\u202egnp.exe", "bidignp.exe"),
        ("  .hidden  ", "hidden"),
        ("", "attachment"),
        (None, "attachment"),
        ("/", "attachment"),
        ("Übersicht.pdf", "Übersicht.pdf"),
    ],
)
def test_filenames_are_cleaned(raw: str | None, clean: str) -> None:
    assert clean_filename(raw) == clean


def test_long_filenames_are_cut_keeping_the_extension() -> None:
    name = clean_filename("a" * 500 + ".pdf")
    assert len(name) == FILENAME_MAX_LENGTH
    assert name.endswith(".pdf")


@pytest.mark.parametrize(
    ("declared", "served"),
    [
        ("image/png", "image/png"),
        ("IMAGE/JPEG", "image/jpeg"),
        ("image/gif", "image/gif"),
        ("image/webp", "image/webp"),
        ("application/pdf", "application/pdf"),
        ("text/plain; charset=latin-1", "text/plain; charset=utf-8"),
        ("text/html", "application/octet-stream"),
        ("image/svg+xml", "application/octet-stream"),
        ("application/xml", "application/octet-stream"),
        ("text/xml", "application/octet-stream"),
        ("application/javascript", "application/octet-stream"),
        ("text/javascript", "application/octet-stream"),
        ("application/xhtml+xml", "application/octet-stream"),
        (None, "application/octet-stream"),
        ("not a type", "application/octet-stream"),
    ],
)
def test_only_inert_types_are_served_as_themselves(declared: str | None, served: str) -> None:
    assert safe_content_type(declared) == served


def test_declared_types_are_normalised() -> None:
    assert normalise_content_type(" Text/Plain ; charset=UTF-8") == "text/plain"
    assert normalise_content_type("garbage") == "application/octet-stream"


def _a_ticket_and_agent() -> tuple[int, int]:
    with transaction() as session:
        ticket_id = session.scalars(select(Ticket.id).order_by(Ticket.id)).first()
        agent_id = session.scalars(
            select(User.id).where(User.email == "sarah.johnson@example.com")
        ).one()
    assert ticket_id is not None
    return ticket_id, agent_id


def test_add_attachment_stores_bytes_row_history_and_event(seeded_database: str) -> None:
    ticket_id, agent_id = _a_ticket_and_agent()
    data = b"core test bytes " + str(ticket_id).encode()
    with transaction() as session:
        attachment = add_attachment(
            session,
            ticket_id=ticket_id,
            comment_id=None,
            filename="../notes.txt",
            content_type="text/plain",
            data=data,
            uploaded_by=agent_id,
            source="mail",
        )
        attachment_id = attachment.id
    store = BlobStore(get_settings().attachments_dir)
    with transaction() as session:
        row = session.get(Attachment, attachment_id)
        assert row is not None
        assert (row.filename, row.size, row.source) == ("notes.txt", len(data), "mail")
        assert store.read(row.blob) == data
        history = session.scalars(
            select(TicketHistory).where(
                TicketHistory.ticket_id == ticket_id, TicketHistory.field == "attachment"
            )
        ).all()
        assert f"notes.txt ({attachment_id})" in [entry.new_value for entry in history]
        event = session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.ticket_id == ticket_id, OutboxEvent.event_type == "ticket.updated")
            .order_by(OutboxEvent.id.desc())
        ).first()
        assert event is not None
        assert (
            json.loads(event.payload)["data"]["changes"]["attachments"]["to"][0]["id"]
            == attachment_id
        )


def test_a_file_over_the_limit_is_refused_and_nothing_is_written(seeded_database: str) -> None:
    ticket_id, agent_id = _a_ticket_and_agent()
    too_big = b"x" * (get_settings().attachment_max_bytes + 1)
    with pytest.raises(TooLarge), transaction() as session:
        add_attachments(
            session,
            ticket_id=ticket_id,
            comment_id=None,
            files=[NewFile("refused-core-test.bin", None, too_big)],
            uploaded_by=agent_id,
            source="api",
        )
    with transaction() as session:
        assert not session.scalars(
            select(Attachment).where(Attachment.filename == "refused-core-test.bin")
        ).all()


def test_unknown_ticket_and_foreign_comment_are_refused(seeded_database: str) -> None:
    _ticket_id, agent_id = _a_ticket_and_agent()
    with pytest.raises(NotFound), transaction() as session:
        add_attachment(
            session,
            ticket_id=10**9,
            comment_id=None,
            filename="a.txt",
            content_type="text/plain",
            data=b"a",
            uploaded_by=agent_id,
            source="api",
        )
    with pytest.raises(InvalidInput), transaction() as session:
        add_attachments(
            session,
            ticket_id=_ticket_id,
            comment_id=None,
            files=[
                NewFile("x", None, b"x")
                for _ in range(get_settings().attachment_max_files_per_ticket + 1)
            ],
            uploaded_by=agent_id,
            source="api",
        )


def test_the_per_ticket_limit_counts_uploads_not_the_tickets_mail(
    seeded_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ticket's mail (originals, their parts) neither uses up the room for uploads nor stops
    being kept once the uploads have filled it."""
    ticket_id, agent_id = _a_ticket_and_agent()
    with transaction() as session:
        uploaded = attachment_count(session, ticket_id=ticket_id, source="api")
    monkeypatch.setenv("ATTACHMENT_MAX_FILES_PER_TICKET", str(uploaded + 1))
    get_settings.cache_clear()
    try:

        def attach(source: Literal["api", "mail"], count: int) -> None:
            with transaction() as session:
                add_attachments(
                    session,
                    ticket_id=ticket_id,
                    comment_id=None,
                    files=[NewFile(f"{source}-{n}.txt", None, b"n") for n in range(count)],
                    uploaded_by=agent_id,
                    source=source,
                )

        attach("mail", 3)  # over the limit by itself: mail is not counted
        attach("api", 1)  # the one upload the limit leaves room for
        attach("mail", 1)  # the limit is full: mail is still kept
        with pytest.raises(InvalidInput, match="at most"):
            attach("api", 1)
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
