"""Attachments over REST: uploads on tickets and comments, who sees which, limits, downloads."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.blob_store import BlobStore, content_name
from shared.models import Attachment, OutboxEvent, TicketHistory
from tests.api.test_mcp import call, error_text, ok
from tests.helpers import new_ticket, problem_of
from tests.support.processes import ApiServer, start_api_server

Files = list[tuple[str, tuple[str, bytes, str]]]


def _files(*parts: tuple[str, bytes, str]) -> Files:
    return [("file", part) for part in parts]


def _upload(client: httpx.Client, path: str, *parts: tuple[str, bytes, str]) -> httpx.Response:
    return client.post(path, files=_files(*parts))


def _comment(client: httpx.Client, ticket_id: int, *, internal: bool = False) -> dict[str, Any]:
    response = client.post(
        f"/tickets/{ticket_id}/comments", json={"body": "see attached", "internal": internal}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


@pytest.fixture
def ticket(customer: httpx.Client) -> dict[str, Any]:
    return new_ticket(customer)


def test_upload_list_and_download_on_a_ticket(
    customer: httpx.Client, agent: httpx.Client, ticket: dict[str, Any]
) -> None:
    response = _upload(
        customer,
        f"/tickets/{ticket['id']}/attachments",
        ("screenshot.png", b"\x89PNG fake image", "image/png"),
        ("notes.txt", "naïve text".encode(), "text/plain"),
    )
    assert response.status_code == 201, response.text
    made = response.json()
    assert [(a["filename"], a["content_type"], a["comment_id"]) for a in made] == [
        ("screenshot.png", "image/png", None),
        ("notes.txt", "text/plain", None),
    ]
    assert made[0]["size"] == len(b"\x89PNG fake image")
    assert made[0]["source"] == "api"

    for viewer in (customer, agent):
        listed = viewer.get(f"/tickets/{ticket['id']}/attachments")
        assert listed.status_code == 200
        assert [a["id"] for a in listed.json()] == [a["id"] for a in made]
    meta = agent.get(f"/attachments/{made[0]['id']}")
    assert meta.status_code == 200
    assert meta.json() == made[0]

    content = customer.get(made[0]["content_url"])
    assert content.status_code == 200
    assert content.content == b"\x89PNG fake image"
    assert content.headers["content-type"] == "image/png"
    text = customer.get(made[1]["content_url"])
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    assert text.content == "naïve text".encode()


def test_download_headers(agent: httpx.Client, ticket: dict[str, Any]) -> None:
    (made,) = _upload(
        agent,
        f"/tickets/{ticket['id']}/attachments",
        ('Überblick "Q4"; final.pdf', b"%PDF-1.4 fake", "application/pdf"),
    ).json()
    response = agent.get(made["content_url"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "private"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment; ")
    assert 'filename="_berblick _Q4__ final.pdf"' in disposition
    assert "filename*=UTF-8''%C3%9Cberblick%20%22Q4%22%3B%20final.pdf" in disposition


@pytest.mark.parametrize(
    ("declared", "name"),
    [
        ("text/html", "page.html"),
        ("image/svg+xml", "logo.svg"),
        ("application/javascript", "run.js"),
        ("text/xml", "data.xml"),
    ],
)
def test_active_content_is_served_as_opaque_bytes(
    agent: httpx.Client, ticket: dict[str, Any], declared: str, name: str
) -> None:
    body = b"<script>alert(1)</script>"
    (made,) = _upload(agent, f"/tickets/{ticket['id']}/attachments", (name, body, declared)).json()
    assert made["content_type"] == declared
    response = agent.get(made["content_url"])
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.content == body


def test_comment_attachments_show_in_the_comment_list(
    customer: httpx.Client, agent: httpx.Client, ticket: dict[str, Any]
) -> None:
    comment = _comment(customer, ticket["id"])
    assert comment["attachments"] == []
    response = _upload(
        customer,
        f"/tickets/{ticket['id']}/comments/{comment['id']}/attachments",
        ("log.txt", b"error at line 3", "text/plain"),
    )
    assert response.status_code == 201, response.text
    (made,) = response.json()
    assert made["comment_id"] == comment["id"]
    listed = {c["id"]: c for c in agent.get(f"/tickets/{ticket['id']}/comments").json()}
    assert [a["id"] for a in listed[comment["id"]]["attachments"]] == [made["id"]]


def test_customer_sees_public_comment_files_but_not_internal_note_files(
    customer: httpx.Client, agent: httpx.Client, ticket: dict[str, Any], db: Session
) -> None:
    public = _comment(agent, ticket["id"])
    note = _comment(agent, ticket["id"], internal=True)
    (public_file,) = _upload(
        agent,
        f"/tickets/{ticket['id']}/comments/{public['id']}/attachments",
        ("answer.txt", b"the answer", "text/plain"),
    ).json()
    (note_file,) = _upload(
        agent,
        f"/tickets/{ticket['id']}/comments/{note['id']}/attachments",
        ("internal.txt", b"staff only", "text/plain"),
    ).json()

    seen = [a["id"] for a in customer.get(f"/tickets/{ticket['id']}/attachments").json()]
    assert seen == [public_file["id"]]
    assert customer.get(public_file["content_url"]).status_code == 200
    for path in (f"/attachments/{note_file['id']}", note_file["content_url"]):
        response = customer.get(path)
        assert response.status_code == 404
        problem_of(response)
    staff_seen = [a["id"] for a in agent.get(f"/tickets/{ticket['id']}/attachments").json()]
    assert staff_seen == [public_file["id"], note_file["id"]]
    assert agent.get(note_file["content_url"]).content == b"staff only"
    comments = customer.get(f"/tickets/{ticket['id']}/comments").json()
    assert [[a["id"] for a in c["attachments"]] for c in comments] == [[public_file["id"]]]

    # The note's file is in the history, hidden from the customer's view of it.
    rows = db.scalars(
        select(TicketHistory).where(
            TicketHistory.ticket_id == ticket["id"], TicketHistory.field == "attachment"
        )
    ).all()
    assert {(row.new_value, row.is_internal) for row in rows} == {
        (f"answer.txt ({public_file['id']})", False),
        (f"internal.txt ({note_file['id']})", True),
    }
    history = customer.get(f"/tickets/{ticket['id']}/history")
    assert history.status_code == 200
    assert "internal.txt" not in history.text
    assert "answer.txt" in history.text


def test_other_customer_gets_404_everywhere(
    customer: httpx.Client, other_customer: httpx.Client, ticket: dict[str, Any]
) -> None:
    (made,) = _upload(
        customer, f"/tickets/{ticket['id']}/attachments", ("a.txt", b"mine", "text/plain")
    ).json()
    for response in (
        other_customer.get(f"/tickets/{ticket['id']}/attachments"),
        other_customer.get(f"/attachments/{made['id']}"),
        other_customer.get(made["content_url"]),
        _upload(
            other_customer, f"/tickets/{ticket['id']}/attachments", ("b.txt", b"x", "text/plain")
        ),
    ):
        assert response.status_code == 404, response.text
        problem_of(response)


def test_customer_cannot_attach_to_an_internal_note_or_someone_elses_comment(
    customer: httpx.Client, agent: httpx.Client, ticket: dict[str, Any], db: Session
) -> None:
    note = _comment(agent, ticket["id"], internal=True)
    reply = _comment(agent, ticket["id"])
    part = ("x.txt", b"x", "text/plain")
    hidden = _upload(customer, f"/tickets/{ticket['id']}/comments/{note['id']}/attachments", part)
    assert hidden.status_code == 404
    assert problem_of(hidden)["errors"][0]["field"] == "comment_id"
    foreign = _upload(customer, f"/tickets/{ticket['id']}/comments/{reply['id']}/attachments", part)
    assert foreign.status_code == 403
    problem_of(foreign)
    # Staff may attach to any comment, internal notes included.
    staff = _upload(agent, f"/tickets/{ticket['id']}/comments/{note['id']}/attachments", part)
    assert staff.status_code == 201
    assert db.scalars(
        select(Attachment.comment_id).where(Attachment.ticket_id == ticket["id"])
    ).all() == [note["id"]]


def test_unknown_ticket_comment_and_attachment(agent: httpx.Client, ticket: dict[str, Any]) -> None:
    other = new_ticket(agent)
    comment_elsewhere = _comment(agent, other["id"])
    part = ("x.txt", b"x", "text/plain")
    for response in (
        _upload(agent, "/tickets/999999999/attachments", part),
        agent.get("/tickets/999999999/attachments"),
        _upload(agent, f"/tickets/{ticket['id']}/comments/999999999/attachments", part),
        _upload(
            agent, f"/tickets/{ticket['id']}/comments/{comment_elsewhere['id']}/attachments", part
        ),
        agent.get("/attachments/999999999"),
        agent.get("/attachments/999999999/content"),
    ):
        assert response.status_code == 404, response.text
        problem_of(response)
    assert agent.get(f"/tickets/{ticket['id']}/attachments").json() == []


def test_bad_uploads_are_refused_and_change_nothing(
    agent: httpx.Client, ticket: dict[str, Any], db: Session
) -> None:
    path = f"/tickets/{ticket['id']}/attachments"
    no_file = agent.post(path, data={"other": "value"})
    assert no_file.status_code == 422
    assert problem_of(no_file)["errors"][0]["field"] == "file"
    json_body = agent.post(path, json={"file": "x"})
    assert json_body.status_code in (400, 422)
    problem_of(json_body)
    malformed = agent.post(
        path,
        content=b'--XYZ\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\nabc',
        headers={"Content-Type": "multipart/form-data; boundary=XYZ"},
    )
    assert malformed.status_code in (400, 422), malformed.text
    problem_of(malformed)
    no_boundary = agent.post(
        path, content=b"garbage", headers={"Content-Type": "multipart/form-data"}
    )
    assert no_boundary.status_code in (400, 422), no_boundary.text
    problem_of(no_boundary)
    control = _upload(agent, path, ("evil\x1b[31m.txt", b"x", "text/plain"))
    assert control.status_code == 422
    assert problem_of(control)["errors"][0]["field"] == "file"
    assert db.scalars(select(Attachment).where(Attachment.ticket_id == ticket["id"])).all() == []


def test_path_in_a_filename_is_dropped(agent: httpx.Client, ticket: dict[str, Any]) -> None:
    (made,) = _upload(
        agent, f"/tickets/{ticket['id']}/attachments", ("../../etc/passwd", b"x", "text/plain")
    ).json()
    assert made["filename"] == "passwd"


def test_same_bytes_twice_are_one_file_on_disk(
    agent: httpx.Client, customer: httpx.Client, ticket: dict[str, Any], db: Session
) -> None:
    data = os.urandom(4096)
    first = _upload(agent, f"/tickets/{ticket['id']}/attachments", ("a.bin", data, "x/y")).json()
    other = new_ticket(customer)
    second = _upload(customer, f"/tickets/{other['id']}/attachments", ("b.bin", data, "x/y")).json()
    assert first[0]["id"] != second[0]["id"]
    blobs = db.scalars(
        select(Attachment.blob).where(Attachment.id.in_([first[0]["id"], second[0]["id"]]))
    ).all()
    assert blobs == [content_name(data)] * 2
    store = BlobStore(os.environ["ATTACHMENTS_DIR"])
    directory = store.path_of(content_name(data)).parent
    assert [p.name for p in directory.iterdir() if p.name == content_name(data)] == [
        content_name(data)
    ]
    assert [p for p in directory.iterdir() if p.name.startswith(".incoming-")] == []


def test_an_upload_larger_than_the_json_body_limit_is_taken(
    agent: httpx.Client, ticket: dict[str, Any]
) -> None:
    data = os.urandom(3 * 1024 * 1024)
    response = _upload(agent, f"/tickets/{ticket['id']}/attachments", ("big.bin", data, "x/y"))
    assert response.status_code == 201, response.text
    assert agent.get(response.json()[0]["content_url"]).content == data
    # Other routes keep the 1 MB limit.
    too_big = agent.post("/tickets", content=b"{" + b" " * (2 * 1024 * 1024) + b"}")
    assert too_big.status_code == 413


def test_an_upload_is_announced_as_ticket_updated(
    agent: httpx.Client, ticket: dict[str, Any], db: Session
) -> None:
    (made,) = _upload(
        agent, f"/tickets/{ticket['id']}/attachments", ("a.txt", b"announce", "text/plain")
    ).json()
    events = db.scalars(
        select(OutboxEvent.payload).where(
            OutboxEvent.ticket_id == ticket["id"], OutboxEvent.event_type == "ticket.updated"
        )
    ).all()
    changes = [json.loads(payload)["data"]["changes"] for payload in events]
    (change,) = [c["attachments"] for c in changes if "attachments" in c]
    assert change["from"] is None
    assert change["to"] == [
        {
            "id": made["id"],
            "filename": "a.txt",
            "content_type": "text/plain",
            "size": 8,
            "comment_id": None,
        }
    ]


# --- limits, on a server of their own with small ones -----------------------------------------

_MAX_BYTES = 2048


@pytest.fixture(scope="module")
def small_limits(
    seeded_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    directory: Path = tmp_path_factory.mktemp("small-attachments")
    server = start_api_server(
        env={
            "DATABASE_URL": seeded_database,
            "ATTACHMENTS_DIR": str(directory),
            "ATTACHMENT_MAX_BYTES": str(_MAX_BYTES),
            "ATTACHMENT_MAX_FILES_PER_TICKET": "3",
            "ATTACHMENT_MAX_FILES_PER_UPLOAD": "2",
            "MAX_REQUEST_BODY_BYTES": "4096",
        }
    )
    yield server
    server.stop()


@pytest.fixture
def limited(small_limits: ApiServer, api_keys: dict[str, str]) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=small_limits.base_url,
        headers={"Authorization": f"Bearer {api_keys['agent']}"},
        timeout=30,
    ) as client:
        yield client


def test_a_file_over_the_size_limit_is_413(limited: httpx.Client, db: Session) -> None:
    ticket = new_ticket(limited)
    path = f"/tickets/{ticket['id']}/attachments"
    response = _upload(limited, path, ("big.bin", b"x" * (_MAX_BYTES + 1), "x/y"))
    assert response.status_code == 413
    assert problem_of(response)["errors"][0]["field"] == "file"
    assert _upload(limited, path, ("fits.bin", b"x" * _MAX_BYTES, "x/y")).status_code == 201
    assert [
        a.filename
        for a in db.scalars(select(Attachment).where(Attachment.ticket_id == ticket["id"]))
    ] == ["fits.bin"]


def test_a_body_over_the_upload_limit_is_413_while_streaming(limited: httpx.Client) -> None:
    ticket = new_ticket(limited)

    def chunks() -> Iterator[bytes]:
        yield b'--B\r\nContent-Disposition: form-data; name="file"; filename="a"\r\n\r\n'
        for _ in range(1000):
            yield b"x" * 1024

    response = limited.post(
        f"/tickets/{ticket['id']}/attachments",
        content=chunks(),
        headers={"Content-Type": "multipart/form-data; boundary=B"},
    )
    assert response.status_code == 413
    problem_of(response)


def test_too_many_files_per_upload_and_per_ticket_are_422(
    limited: httpx.Client, db: Session
) -> None:
    ticket = new_ticket(limited)
    path = f"/tickets/{ticket['id']}/attachments"
    part = ("a.txt", b"a", "text/plain")
    three = _upload(limited, path, part, part, part)
    assert three.status_code == 422
    assert problem_of(three)["errors"][0]["field"] == "file"
    assert _upload(limited, path, part, part).status_code == 201
    assert _upload(limited, path, part).status_code == 201
    full = _upload(limited, path, part)
    assert full.status_code == 422
    assert "at most 3" in problem_of(full)["detail"]
    assert (
        len(db.scalars(select(Attachment).where(Attachment.ticket_id == ticket["id"])).all()) == 3
    )


def test_mcp_list_attachments_follows_the_same_visibility(
    api_server: ApiServer,
    api_keys: dict[str, str],
    customer: httpx.Client,
    agent: httpx.Client,
    ticket: dict[str, Any],
) -> None:
    note = _comment(agent, ticket["id"], internal=True)
    (on_ticket,) = _upload(
        customer, f"/tickets/{ticket['id']}/attachments", ("a.txt", b"a", "text/plain")
    ).json()
    (on_note,) = _upload(
        agent,
        f"/tickets/{ticket['id']}/comments/{note['id']}/attachments",
        ("n.txt", b"n", "text/plain"),
    ).json()
    by_customer = ok(
        call(api_server, api_keys["customer"], "list_attachments", ticket=ticket["id"])
    )
    assert by_customer == [on_ticket]
    by_agent = ok(call(api_server, api_keys["agent"], "list_attachments", ticket=ticket["number"]))
    assert [a["id"] for a in by_agent] == [on_ticket["id"], on_note["id"]]
    assert "no ticket" in error_text(
        call(api_server, api_keys["other_customer"], "list_attachments", ticket=ticket["id"])
    )


def test_a_merge_carries_comment_files_to_the_copied_comments(
    customer: httpx.Client, agent: httpx.Client, other_customer: httpx.Client
) -> None:
    source = new_ticket(customer)
    target = new_ticket(customer)
    reply = _comment(customer, source["id"])
    (original,) = _upload(
        customer,
        f"/tickets/{source['id']}/comments/{reply['id']}/attachments",
        ("trace.txt", b"stack trace", "text/plain"),
    ).json()
    merged = agent.post(f"/tickets/{source['id']}/merge", json={"into": target["id"]})
    assert merged.status_code == 200, merged.text
    (copied,) = customer.get(f"/tickets/{target['id']}/attachments").json()
    assert copied["id"] != original["id"]
    assert (copied["filename"], copied["size"]) == ("trace.txt", original["size"])
    assert copied["comment_id"] != reply["id"]
    assert customer.get(copied["content_url"]).content == b"stack trace"
    comments = customer.get(f"/tickets/{target['id']}/comments").json()
    assert [[a["id"] for a in c["attachments"]] for c in comments] == [[copied["id"]]]

    # Into another requester's ticket the copied comment is an internal note: so is its file.
    elsewhere = new_ticket(other_customer)
    second = new_ticket(customer)
    note_source = _comment(customer, second["id"])
    _upload(
        customer,
        f"/tickets/{second['id']}/comments/{note_source['id']}/attachments",
        ("private.txt", b"john's", "text/plain"),
    )
    merged = agent.post(f"/tickets/{second['id']}/merge", json={"into": elsewhere["id"]})
    assert merged.status_code == 200, merged.text
    assert other_customer.get(f"/tickets/{elsewhere['id']}/attachments").json() == []
    staff_view = agent.get(f"/tickets/{elsewhere['id']}/attachments").json()
    assert [a["filename"] for a in staff_view] == ["private.txt"]
