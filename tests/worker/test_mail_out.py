"""Mail out: the worker records mail for real ticket events on the real database, and its
send_mail task sends it to a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from email.message import EmailMessage

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.worker import tasks
from services.worker.events import handle_ticket_events
from shared.clock import utcnow
from shared.mail_out.sending import claim_due, send_due_mail
from shared.models import (
    MailDirection,
    MailMessage,
    MailOutcome,
    MailStatus,
    OutboundMail,
    OutboundMailAttempt,
)
from shared.settings import get_settings
from shared.unit_of_work import transaction
from tests.api.routing_support import new_user
from tests.helpers import new_ticket
from tests.support.processes import free_port
from tests.support.smtp_server import SmtpServer, smtp_server
from tests.worker.test_triggers import unhandled

JOHN = "john.doe@example.com"
JANE = "jane.smith@example.com"
BOB = "bob.wilson@example.com"
JANE_ID, BOB_ID = 2, 3
RESOLVED = 4


def use_settings(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()


@pytest.fixture
def mail_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Mail out on (what SMTP_HOST does), retries due at once; the settings as they were
    afterwards."""
    use_settings(
        monkeypatch,
        SMTP_HOST="127.0.0.1",
        SMTP_SECURITY="none",
        SMTP_TIMEOUT_SECONDS="5",
        MAIL_SUPPORT_ADDRESS="help@support.example.com",
        MAIL_RETRY_SCHEDULE_SECONDS="0,0",
    )
    yield monkeypatch
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture
def smtp(mail_settings: pytest.MonkeyPatch) -> Iterator[SmtpServer]:
    with smtp_server() as server:
        use_settings(mail_settings, SMTP_PORT=str(server.port))
        yield server


def work(ticket_id: int) -> None:
    """The worker's task over the ticket's events, until none is left."""
    for _ in range(10):
        events = unhandled(ticket_id)
        if not events:
            return
        tasks.handle_events(events)
    raise AssertionError("events keep coming")


def reply(client: httpx.Client, ticket_id: int, body: str, *, internal: bool = False) -> None:
    response = client.post(
        f"/tickets/{ticket_id}/comments", json={"body": body, "internal": internal}
    )
    assert response.status_code == 201, response.text


def add_cc(agent: httpx.Client, ticket_id: int, user_id: int) -> None:
    response = agent.post(f"/tickets/{ticket_id}/ccs", json={"user_id": user_id})
    assert response.status_code in (200, 201), response.text


def mail_of(db: Session, ticket_id: int) -> list[OutboundMail]:
    return list(
        db.scalars(
            select(OutboundMail)
            .where(OutboundMail.ticket_id == ticket_id)
            .order_by(OutboundMail.id)
        )
    )


def ids(header: str | None) -> list[str]:
    return (header or "").split()


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]


def test_a_staff_reply_mails_the_requester_and_each_cc_with_headers_that_thread(
    smtp: SmtpServer, customer: httpx.Client, agent: httpx.Client
) -> None:
    ticket = new_ticket(customer)
    work(ticket["id"])  # acknowledged to the requester alone
    add_cc(agent, ticket["id"], JANE_ID)
    add_cc(agent, ticket["id"], BOB_ID)
    reply(agent, ticket["id"], "First answer")
    work(ticket["id"])
    reply(agent, ticket["id"], "Second answer")
    work(ticket["id"])
    assert tasks.send_mail() >= 7

    root = f"<ticket-{ticket['id']}@support.example.com>"
    mail = smtp.handler.about(ticket["id"])
    to_john = [m for m in mail if m["To"] == JOHN]
    assert [m["Subject"] for m in to_john] == [
        f"[{ticket['number']}] {ticket['title']}",
        f"Re: [{ticket['number']}] {ticket['title']}",
        f"Re: [{ticket['number']}] {ticket['title']}",
    ]
    ack, first, second = to_john
    assert ack["Auto-Submitted"] == "auto-replied"
    assert first["Auto-Submitted"] is None
    assert ids(first["In-Reply-To"]) == [ack["Message-ID"]]
    assert ids(first["References"]) == [root, ack["Message-ID"]]
    assert ids(second["In-Reply-To"]) == [first["Message-ID"]]
    assert ids(second["References"]) == [root, ack["Message-ID"], first["Message-ID"]]
    assert "First answer" in text_of(first)
    assert "Second answer" in html_of(second)
    for cc in (JANE, BOB):
        first_cc, second_cc = (m for m in mail if m["To"] == cc)
        assert ids(first_cc["References"]) == [root]
        assert ids(second_cc["In-Reply-To"]) == [first_cc["Message-ID"]]
    reply_to = f"help+{ticket['number']}@support.example.com"
    assert {m["Reply-To"] for m in mail} == {reply_to}
    assert all(reply_to in m["From"] for m in mail)
    assert len({m["Message-ID"] for m in mail}) == len(mail) == 7


def _mailed_in(db: Session, ticket_id: int, message_id: str, *, sender: str = JOHN) -> None:
    """What the mail service records for a message it took in (tests/mail feeds the real one)."""
    db.add(
        MailMessage(
            message_id=message_id,
            direction=MailDirection.IN,
            ticket_id=ticket_id,
            from_address=sender,
            outcome=MailOutcome.COMMENTED,
            received_at=utcnow(),
        )
    )
    db.commit()


def test_answers_thread_under_the_mail_the_customer_sent(
    smtp: SmtpServer, customer: httpx.Client, agent: httpx.Client, db: Session
) -> None:
    ticket = new_ticket(customer)
    _mailed_in(db, ticket["id"], "opened-1@phone.example")
    _mailed_in(db, ticket["id"], f"{uuid.uuid4().hex}@sha256.invalid")  # came without an id
    _mailed_in(db, ticket["id"], "someone-else@other.example", sender=JANE)
    work(ticket["id"])
    reply(agent, ticket["id"], "First answer")
    work(ticket["id"])
    _mailed_in(db, ticket["id"], "thanks-2@phone.example")
    reply(agent, ticket["id"], "Second answer")
    work(ticket["id"])
    assert tasks.send_mail() >= 3

    root = f"<ticket-{ticket['id']}@support.example.com>"
    ack, first, second = (m for m in smtp.handler.about(ticket["id"]) if m["To"] == JOHN)
    assert ids(ack["In-Reply-To"]) == ["<opened-1@phone.example>"]
    assert ids(ack["References"]) == [root, "<opened-1@phone.example>"]
    assert ids(first["In-Reply-To"]) == [ack["Message-ID"]]
    assert ids(second["In-Reply-To"]) == ["<thanks-2@phone.example>"]
    assert ids(second["References"]) == [
        root,
        "<opened-1@phone.example>",
        ack["Message-ID"],
        first["Message-ID"],
        "<thanks-2@phone.example>",
    ]


def test_an_internal_note_mails_nobody(
    smtp: SmtpServer, customer: httpx.Client, agent: httpx.Client, db: Session
) -> None:
    ticket = new_ticket(customer)
    add_cc(agent, ticket["id"], JANE_ID)
    work(ticket["id"])
    before = len(mail_of(db, ticket["id"]))
    reply(agent, ticket["id"], "Only for us", internal=True)
    work(ticket["id"])
    tasks.send_mail()
    assert len(mail_of(db, ticket["id"])) == before
    assert not any("Only for us" in text_of(m) for m in smtp.handler.about(ticket["id"]))


def test_a_customers_own_comment_mails_nobody(
    smtp: SmtpServer, customer: httpx.Client, agent: httpx.Client, db: Session
) -> None:
    ticket = new_ticket(customer)
    add_cc(agent, ticket["id"], JANE_ID)
    work(ticket["id"])
    before = len(mail_of(db, ticket["id"]))
    reply(customer, ticket["id"], "Any news?")
    work(ticket["id"])
    assert len(mail_of(db, ticket["id"])) == before


def test_an_opted_out_user_gets_nothing(
    smtp: SmtpServer, admin: httpx.Client, customer: httpx.Client, agent: httpx.Client, db: Session
) -> None:
    quiet = new_user(admin, role="customer")
    response = admin.patch(f"/users/{quiet['id']}", json={"mail_opt_out": True})
    assert response.status_code == 200, response.text
    assert response.json()["mail_opt_out"] is True
    ticket = new_ticket(customer)
    add_cc(agent, ticket["id"], quiet["id"])
    work(ticket["id"])
    reply(agent, ticket["id"], "An answer")
    work(ticket["id"])
    tasks.send_mail()
    assert {m.to_address for m in mail_of(db, ticket["id"])} == {JOHN}
    assert smtp.handler.to(quiet["email"]) == []


def test_the_acknowledgement_can_be_turned_off(
    smtp: SmtpServer, mail_settings: pytest.MonkeyPatch, customer: httpx.Client, db: Session
) -> None:
    use_settings(mail_settings, MAIL_ACKNOWLEDGE_NEW_TICKETS="false")
    ticket = new_ticket(customer)
    work(ticket["id"])
    assert mail_of(db, ticket["id"]) == []


def test_a_new_ticket_is_acknowledged_to_its_requester(
    smtp: SmtpServer, customer: httpx.Client, db: Session
) -> None:
    ticket = new_ticket(customer)
    work(ticket["id"])
    tasks.send_mail()
    (row,) = mail_of(db, ticket["id"])
    assert (row.kind, row.to_address, row.status) == ("acknowledgement", JOHN, MailStatus.SENT)
    (message,) = smtp.handler.about(ticket["id"])
    assert message["Message-ID"] == row.message_id
    assert ticket["number"] in text_of(message)


def test_the_resolution_is_mailed(
    smtp: SmtpServer, customer: httpx.Client, agent: httpx.Client, db: Session
) -> None:
    ticket = new_ticket(customer)
    work(ticket["id"])
    response = agent.patch(f"/tickets/{ticket['id']}", json={"status_id": RESOLVED})
    assert response.status_code == 200, response.text
    work(ticket["id"])
    tasks.send_mail()
    kinds = [(m.kind, m.to_address) for m in mail_of(db, ticket["id"])]
    assert kinds == [("acknowledgement", JOHN), ("resolution", JOHN)]
    resolution = smtp.handler.about(ticket["id"])[-1]
    assert resolution["Subject"].startswith(f"Resolved: [{ticket['number']}]")


def test_a_temporary_refusal_is_retried_and_delivered_once(
    smtp: SmtpServer, customer: httpx.Client, db: Session
) -> None:
    ticket = new_ticket(customer)
    work(ticket["id"])
    smtp.handler.scripted.append("451 4.3.0 Try again later")
    tasks.send_mail()
    (row,) = mail_of(db, ticket["id"])
    assert (row.status, row.attempts) == (MailStatus.PENDING, 1)
    assert row.last_reply is not None
    assert row.last_reply.startswith("451")
    tasks.send_mail()
    db.expire_all()
    (row,) = mail_of(db, ticket["id"])
    assert (row.status, row.attempts) == (MailStatus.SENT, 2)
    assert row.sent_at is not None
    assert len(smtp.handler.about(ticket["id"])) == 1
    codes = db.scalars(
        select(OutboundMailAttempt.smtp_code)
        .where(OutboundMailAttempt.mail_id == row.id)
        .order_by(OutboundMailAttempt.attempt_number)
    ).all()
    assert codes == [451, 250]


def test_a_permanent_refusal_is_given_up_and_logged(
    smtp: SmtpServer, customer: httpx.Client, db: Session
) -> None:
    ticket = new_ticket(customer)
    work(ticket["id"])
    smtp.handler.scripted.append("550 5.1.1 No such user")
    tasks.send_mail()
    tasks.send_mail()
    (row,) = mail_of(db, ticket["id"])
    assert (row.status, row.attempts, row.next_attempt_at) == (MailStatus.FAILED, 1, None)
    assert row.last_reply == "550 5.1.1 No such user"
    assert smtp.handler.about(ticket["id"]) == []


def test_mail_is_kept_for_later_while_no_smtp_server_answers(
    mail_settings: pytest.MonkeyPatch, customer: httpx.Client, db: Session
) -> None:
    use_settings(mail_settings, SMTP_PORT=str(free_port()), MAIL_RETRY_SCHEDULE_SECONDS="3600,3600")
    ticket = new_ticket(customer)
    work(ticket["id"])
    tasks.send_mail()
    tasks.send_mail()  # nothing is due before the retry's time
    (row,) = mail_of(db, ticket["id"])
    assert (row.status, row.attempts) == (MailStatus.PENDING, 1)
    assert row.next_attempt_at is not None
    assert row.claimed_until is None
    assert "Connect" in (row.last_reply or "")
    # The server is back and the retry is due: it goes.
    with smtp_server() as server:
        use_settings(mail_settings, SMTP_PORT=str(server.port))
        db.execute(
            OutboundMail.__table__.update()  # type: ignore[attr-defined]
            .where(OutboundMail.id == row.id)
            .values(next_attempt_at=row.created_at)
        )
        tasks.send_mail()
        assert len(server.handler.about(ticket["id"])) == 1


def test_an_event_handled_twice_mails_once(
    smtp: SmtpServer, customer: httpx.Client, db: Session
) -> None:
    ticket = new_ticket(customer)
    events = unhandled(ticket["id"])
    tasks.handle_events(events)
    tasks.handle_events(events)  # redelivered
    tasks.send_mail()
    tasks.send_mail()
    assert len(mail_of(db, ticket["id"])) == 1
    assert len(smtp.handler.about(ticket["id"])) == 1


def test_customer_text_is_escaped_in_the_html_part(
    smtp: SmtpServer, customer: httpx.Client, agent: httpx.Client
) -> None:
    title = f"<script>alert('{uuid.uuid4().hex[:6]}')</script>"
    ticket = new_ticket(customer, title=title)
    work(ticket["id"])
    reply(agent, ticket["id"], "Try <script>steal()</script> & <b>this</b>")
    work(ticket["id"])
    tasks.send_mail()
    mail = smtp.handler.about(ticket["id"])
    assert len(mail) == 2
    for message in mail:
        html = html_of(message)
        assert "<script>" not in html
        assert "&lt;script&gt;" in html
    assert "Try <script>steal()</script> & <b>this</b>" in text_of(mail[1])


@contextmanager
def reply_template(admin: httpx.Client, template: dict[str, str]) -> Iterator[None]:
    """The reply template as the admin edits it, back to the default afterwards."""
    response = admin.put("/mail-templates/reply", json=template)
    assert response.status_code == 200, response.text
    try:
        yield
    finally:
        admin.delete("/mail-templates/reply")


def test_an_edited_template_is_what_is_sent(
    smtp: SmtpServer, admin: httpx.Client, customer: httpx.Client, agent: httpx.Client
) -> None:
    edited = {
        "subject": "Answer on {{ ticket.number }}",
        "text": "Dear {{ recipient.name }}: {{ comment.body }}",
        "html": "<p>Dear {{ recipient.name }}: <em>{{ comment.body }}</em></p>",
    }
    with reply_template(admin, edited):
        ticket = new_ticket(customer)
        work(ticket["id"])
        reply(agent, ticket["id"], "Restart it & <wait>")
        work(ticket["id"])
        tasks.send_mail()
    answer = smtp.handler.about(ticket["id"])[-1]
    assert answer["Subject"] == f"Answer on {ticket['number']}"
    assert text_of(answer).strip() == "Dear John Doe: Restart it & <wait>"
    assert "<em>Restart it &amp; &lt;wait&gt;</em>" in html_of(answer)


def test_a_template_failing_on_real_data_sends_the_default_and_handles_the_event(
    smtp: SmtpServer, admin: httpx.Client, customer: httpx.Client, agent: httpx.Client
) -> None:
    # Passes the check (sample data is TKT-042) and divides by zero on any other ticket.
    failing = {
        "subject": "{% if ticket.number != 'TKT-042' %}{{ 1 // 0 }}{% endif %}Answer",
        "text": "{{ comment.body }}",
        "html": "<p>{{ comment.body }}</p>",
    }
    with reply_template(admin, failing):
        ticket = new_ticket(customer)
        work(ticket["id"])
        reply(agent, ticket["id"], "Still answered")
        work(ticket["id"])  # raises "events keep coming" if the handling kept failing
        tasks.send_mail()
    answer = smtp.handler.about(ticket["id"])[-1]
    assert answer["Subject"] == f"Re: [{ticket['number']}] {ticket['title']}"
    assert "Still answered" in text_of(answer)


def test_a_title_with_unicode_line_breaks_is_mailed_on_one_line(
    smtp: SmtpServer, customer: httpx.Client
) -> None:
    title = "Printer\u2028on\u2029fire  again"
    response = customer.post(
        "/tickets", json={"title": title, "description": "smoke", "category_id": 1}
    )
    assert response.status_code == 201, response.text
    ticket = response.json()
    work(ticket["id"])
    assert tasks.send_mail() == 1
    (ack,) = smtp.handler.about(ticket["id"])
    assert ack["Subject"] == f"[{ticket['number']}] Printer on fire again"


def test_no_send_starts_past_half_the_lease(
    smtp: SmtpServer, mail_settings: pytest.MonkeyPatch, customer: httpx.Client, db: Session
) -> None:
    """A slow server holds each message 1.5 s and the lease is 4 s: a second sender may claim
    the batch's rest after 4 s, so nothing is started after 2 s."""
    use_settings(mail_settings, MAIL_LEASE_SECONDS="4")
    tickets = [new_ticket(customer) for _ in range(3)]
    for ticket in tickets:
        work(ticket["id"])
    smtp.handler.delay_seconds = 1.5
    report = send_due_mail(get_settings())
    assert report.sent == 2
    sent = [m for t in tickets for m in smtp.handler.about(t["id"])]
    assert len(sent) == 2
    (waiting,) = [m for t in tickets for m in mail_of(db, t["id"]) if m.status != MailStatus.SENT]
    assert waiting.status == MailStatus.PENDING
    assert waiting.attempts == 0


class Crash(Exception):
    pass


def handle_then_die(events: list[tuple[str, str, int | None]]) -> None:
    """The worker's handling, its process gone before the commit."""
    with transaction() as session:
        handle_ticket_events(session, events=events, now=utcnow())
        raise Crash


def test_a_crash_before_the_commit_loses_no_mail(
    smtp: SmtpServer, customer: httpx.Client, db: Session
) -> None:
    ticket = new_ticket(customer)
    events = unhandled(ticket["id"])
    with pytest.raises(Crash):
        handle_then_die(events)
    assert mail_of(db, ticket["id"]) == []
    assert unhandled(ticket["id"]) == events  # so the event is delivered again
    work(ticket["id"])
    tasks.send_mail()
    assert len(smtp.handler.about(ticket["id"])) == 1


def test_a_message_claimed_by_another_worker_waits_for_its_lease(
    smtp: SmtpServer, customer: httpx.Client, db: Session
) -> None:
    ticket = new_ticket(customer)
    work(ticket["id"])
    with transaction() as session:
        (claimed,) = [
            job
            for job in claim_due(session, now=utcnow(), lease=timedelta(hours=1), limit=1000)
            if job.id == mail_of(db, ticket["id"])[0].id
        ]
    tasks.send_mail()  # that worker died holding it
    assert smtp.handler.about(ticket["id"]) == []
    with transaction() as session:
        session.execute(
            update(OutboundMail)
            .where(OutboundMail.id == claimed.id)
            .values(claimed_until=utcnow() - timedelta(seconds=1))
        )
    tasks.send_mail()
    assert len(smtp.handler.about(ticket["id"])) == 1


def test_temporary_refusals_fail_the_message_after_the_last_retry(
    smtp: SmtpServer, customer: httpx.Client, db: Session
) -> None:
    ticket = new_ticket(customer)
    work(ticket["id"])
    smtp.handler.scripted += ["421 4.7.0 Busy"] * 3
    for _ in range(4):
        tasks.send_mail()
    (row,) = mail_of(db, ticket["id"])
    # MAIL_RETRY_SCHEDULE_SECONDS=0,0: the first attempt and two retries.
    assert (row.status, row.attempts) == (MailStatus.FAILED, 3)
    assert smtp.handler.about(ticket["id"]) == []
