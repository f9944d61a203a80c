"""Mail in over real SMTP: the receiver process fed by smtplib, rows checked in the database."""

from __future__ import annotations

import smtplib
import uuid
from email.message import EmailMessage
from email.policy import SMTP

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.models import (
    Attachment,
    Category,
    MailDirection,
    MailMessage,
    MailOutcome,
    OutboxEvent,
    Role,
    Ticket,
    TicketComment,
    User,
    ticket_number,
)
from shared.models.mail import derived_message_id
from tests.conftest import SAMPLE_EMAILS
from tests.mail import corpus
from tests.mail.conftest import TRUSTED_RELAY, MailService
from tests.support.processes import wait_until


def stranger() -> str:
    return f"person.{uuid.uuid4().hex[:10]}@customer.example"


def bare(message_id: str) -> str:
    return message_id.strip("<>")


def record_of(db: Session, message: EmailMessage) -> MailMessage:
    db.expire_all()
    found = db.scalars(
        select(MailMessage).where(
            MailMessage.message_id == bare(str(message["Message-ID"])),
            MailMessage.direction == MailDirection.IN,
        )
    ).one()
    return found


def ticket_of(db: Session, message: EmailMessage) -> Ticket:
    record = record_of(db, message)
    assert record.ticket_id is not None, record.reason
    ticket = db.get(Ticket, record.ticket_id)
    assert ticket is not None
    db.refresh(ticket)
    return ticket


def test_new_mail_opens_a_ticket_for_an_unknown_sender_in_the_addresses_category(
    mail: MailService, db: Session
) -> None:
    email = stranger()
    message = corpus.plain(
        sender=corpus.address("Ada Lovelace", email),
        to=corpus.BILLING,
        subject="Charged twice",
        body="I was charged twice this month.\n",
    )
    mail.send(message)
    record = record_of(db, message)
    assert record.outcome is MailOutcome.TICKET_CREATED
    ticket = ticket_of(db, message)
    assert ticket.title == "Charged twice"
    assert ticket.description == "I was charged twice this month."
    assert db.get(Category, ticket.category_id).name == "Billing & Payments"  # type: ignore[union-attr]
    requester = db.get(User, ticket.requester_id)
    assert requester is not None
    assert (requester.name, requester.email, requester.role) == (
        "Ada Lovelace",
        email,
        Role.CUSTOMER,
    )
    assert record.raw_blob is not None
    assert (
        mail.attachments / record.raw_blob[:2] / record.raw_blob[2:4] / record.raw_blob
    ).read_bytes() == message.as_bytes(policy=SMTP)


def test_known_sender_becomes_the_requester(mail: MailService, db: Session) -> None:
    message = corpus.plain(sender=SAMPLE_EMAILS["customer"], subject="From a known customer")
    mail.send(message)
    requester = db.get(User, ticket_of(db, message).requester_id)
    assert requester is not None
    assert requester.email == SAMPLE_EMAILS["customer"]


def test_mail_without_a_subject_gets_a_placeholder_title(mail: MailService, db: Session) -> None:
    message = corpus.plain(sender=stranger(), subject=None, body="No subject here.\n")
    mail.send(message)
    assert ticket_of(db, message).title == "(no subject)"


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        pytest.param(
            lambda sender: corpus.alternative(
                sender=sender, text="Plain words.", html="<p>HTML <b>words</b></p>"
            ),
            "Plain words.",
            id="multipart-alternative-uses-the-text-part",
        ),
        pytest.param(
            lambda sender: corpus.html_only(
                sender=sender, html="<html><body><p>Only <b>HTML</b> here</p></body></html>"
            ),
            "Only **HTML** here",
            id="html-only-as-text",
        ),
        pytest.param(
            lambda sender: corpus.plain(
                sender=sender,
                body="Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e\n",
                charset="iso-8859-1",
                cte="quoted-printable",
            ),
            "Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e",
            id="iso-8859-1-quoted-printable",
        ),
        pytest.param(
            lambda sender: corpus.plain(
                sender=sender,
                body="It costs 20 \u20ac \u2014 \u201cquoted\u201d\n",
                charset="windows-1252",
                cte="base64",
            ),
            "It costs 20 \u20ac \u2014 \u201cquoted\u201d",
            id="windows-1252-base64",
        ),
        pytest.param(
            lambda sender: corpus.nested(sender=sender, text="Nested and styled."),
            "Nested and styled.",
            id="nested-multiparts-with-inline-image",
        ),
    ],
)
def test_the_text_of_each_shape_becomes_the_description(
    mail: MailService, db: Session, build: object, expected: str
) -> None:
    assert callable(build)
    message = build(stranger())
    mail.send(message)
    assert ticket_of(db, message).description == expected


def test_inline_images_and_attachments_are_kept_in_the_store(
    mail: MailService, db: Session
) -> None:
    message = corpus.nested(sender=stranger(), text="See the invoice.")
    mail.send(message)
    record = record_of(db, message)
    kept = {(part["filename"], part["content_type"], part["size"]) for part in record.parts}
    assert kept == {
        ("logo.png", "image/png", len(corpus.PNG)),
        ("invoice.pdf", "application/pdf", 16),
    }
    for part in record.parts:
        blob = part["blob"]
        assert (mail.attachments / blob[:2] / blob[2:4] / blob).stat().st_size == part["size"]


def test_a_ten_megabyte_attachment_is_taken_in(mail: MailService, db: Session) -> None:
    size = 10 * 1024 * 1024
    message = corpus.with_attachment(sender=stranger(), size=size)
    mail.send(message)
    record = record_of(db, message)
    assert record.outcome is MailOutcome.TICKET_CREATED
    assert [part["size"] for part in record.parts] == [size]


def test_a_message_over_the_size_limit_is_quarantined_with_the_reason(
    mail: MailService, db: Session
) -> None:
    email = stranger()
    message = corpus.plain(sender=email, subject="Huge", body="x" * (17 * 1024 * 1024))
    before = db.scalar(select(func.count()).select_from(Ticket))
    mail.send(message)
    record = record_of(db, message)
    assert record.outcome is MailOutcome.QUARANTINED
    assert record.reason.startswith("oversized:")
    assert (record.from_address, record.subject) == (email, "Huge")
    assert db.scalar(select(func.count()).select_from(Ticket)) == before
    mail.send(message)  # delivered again: still the one record
    assert record_of(db, message).id == record.id


def test_a_message_over_twice_the_size_limit_is_refused_with_552(mail: MailService) -> None:
    message = corpus.plain(sender=stranger(), body="x" * (33 * 1024 * 1024))
    with pytest.raises(smtplib.SMTPException) as refused:
        mail.send(message)
    assert "552" in str(refused.value)


def test_an_address_we_do_not_serve_is_refused_with_550(mail: MailService) -> None:
    message = corpus.plain(sender=stranger(), to="nobody@support.example")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        mail.send(message)
    assert refused.value.recipients["nobody@support.example"][0] == 550


def test_a_phone_reply_becomes_a_trimmed_public_comment(mail: MailService, db: Session) -> None:
    sender = stranger()
    first = corpus.plain(sender=sender, subject="Router keeps rebooting")
    mail.send(first)
    ticket = ticket_of(db, first)
    reply = corpus.plain(
        sender=sender,
        subject="Re: Router keeps rebooting",
        body=(
            "Still rebooting after the update.\n\nSent from my iPhone\n\n"
            "On Mon, Dec 7, 2026 at 10:00 AM Support <help@support.example> wrote:\n"
            "> Please update the firmware.\n> Thanks\n"
        ),
        in_reply_to=str(first["Message-ID"]),
        references=str(first["Message-ID"]),
    )
    mail.send(reply)
    record = record_of(db, reply)
    assert (record.outcome, record.ticket_id) == (MailOutcome.COMMENTED, ticket.id)
    comment = db.get(TicketComment, record.comment_id)
    assert comment is not None
    assert comment.body == "Still rebooting after the update."
    assert comment.is_internal is False


def test_a_reply_to_the_plus_address_lands_on_that_ticket(mail: MailService, db: Session) -> None:
    sender = stranger()
    first = corpus.plain(sender=sender, subject="Plus address thread")
    mail.send(first)
    ticket = ticket_of(db, first)
    local, _, domain = corpus.SUPPORT.partition("@")
    reply = corpus.plain(
        sender=sender, to=f"{local}+{ticket_number(ticket.id).lower()}@{domain}", subject="More"
    )
    mail.send(reply)
    assert record_of(db, reply).ticket_id == ticket.id
    assert record_of(db, reply).outcome is MailOutcome.COMMENTED


def test_staff_replying_with_the_number_in_the_subject_comment_publicly(
    mail: MailService, db: Session
) -> None:
    first = corpus.plain(sender=stranger(), subject="Needs an agent")
    mail.send(first)
    ticket = ticket_of(db, first)
    agent_domain = SAMPLE_EMAILS["agent"].rpartition("@")[2]
    reply = corpus.plain(
        sender=SAMPLE_EMAILS["agent"],
        subject=f"Re: [{ticket_number(ticket.id)}] Needs an agent",
        body="We are on it.\n",
        extra={
            "Authentication-Results": f"{TRUSTED_RELAY}; spf=pass; dkim=pass;"
            f" dmarc=pass header.from={agent_domain}"
        },
    )
    mail.send(reply)
    record = record_of(db, reply)
    assert (record.outcome, record.ticket_id) == (MailOutcome.COMMENTED, ticket.id)
    db.refresh(ticket)
    assert ticket.first_response_at is not None


def comments_on(db: Session, ticket: Ticket) -> int:
    return int(
        db.scalar(
            select(func.count())
            .select_from(TicketComment)
            .where(TicketComment.ticket_id == ticket.id)
        )
        or 0
    )


@pytest.mark.parametrize(
    "authentication",
    [
        None,  # From typed by anyone
        "mx.elsewhere.example; dmarc=pass header.from={domain}",  # a relay we do not trust
        f"{TRUSTED_RELAY}; dmarc=fail header.from={{domain}}",
        f"{TRUSTED_RELAY}; dmarc=pass header.from=other.example",  # another domain passed
    ],
)
def test_mail_in_a_staff_members_name_writes_nothing_unless_a_trusted_relay_vouches(
    mail: MailService, db: Session, authentication: str | None
) -> None:
    first = corpus.plain(sender=stranger(), subject="Needs an agent")
    mail.send(first)
    ticket = ticket_of(db, first)
    agent_domain = SAMPLE_EMAILS["agent"].rpartition("@")[2]
    forged = corpus.plain(
        sender=SAMPLE_EMAILS["agent"],
        subject=f"Re: [{ticket_number(ticket.id)}] Needs an agent",
        body="Please send your password to this address.\n",
        extra={"Authentication-Results": authentication.format(domain=agent_domain)}
        if authentication
        else None,
    )
    mail.send(forged)

    record = record_of(db, forged)
    assert record.outcome is MailOutcome.QUARANTINED
    assert "DMARC" in record.reason
    assert comments_on(db, ticket) == 0
    db.refresh(ticket)
    assert ticket.first_response_at is None


def test_mail_with_thousands_of_parts_is_quarantined_unread(mail: MailService, db: Session) -> None:
    message = corpus.plain(sender=stranger(), subject="Many parts")
    for number in range(300):
        message.add_attachment(
            b"x", maintype="application", subtype="octet-stream", filename=f"{number}.bin"
        )
    mail.send(message)
    record = record_of(db, message)
    assert record.outcome is MailOutcome.QUARANTINED
    assert "MIME parts" in record.reason


def test_a_huge_references_header_still_threads_by_its_newest_ids(
    mail: MailService, db: Session
) -> None:
    email = stranger()
    first = corpus.plain(sender=email, subject="Long thread")
    mail.send(first)
    ticket = ticket_of(db, first)
    many = " ".join(f"<old-{n}@elsewhere.example>" for n in range(40_000))
    reply = corpus.plain(
        sender=email, subject="Re: long", references=f"{many} {first['Message-ID']}"
    )
    mail.send(reply)
    record = record_of(db, reply)
    assert (record.outcome, record.ticket_id) == (MailOutcome.COMMENTED, ticket.id)


def test_a_long_reply_is_trimmed_in_its_first_part_only(mail: MailService, db: Session) -> None:
    email = stranger()
    first = corpus.plain(sender=email, subject="Slow trim")
    mail.send(first)
    ticket = ticket_of(db, first)
    body = "Thanks, it works now.\n\n" + "On Mon wrote and wrote again\n" * 20_000
    reply = corpus.plain(sender=email, subject=f"Re: [{ticket_number(ticket.id)}]", body=body)
    mail.send(reply)  # smtplib's 60 s timeout: the service must answer well within it
    record = record_of(db, reply)
    assert (record.outcome, record.ticket_id) == (MailOutcome.COMMENTED, ticket.id)


def test_a_customer_forwarding_a_bounce_to_us_is_heard(mail: MailService, db: Session) -> None:
    email = stranger()
    inner = corpus.bounce(original=corpus.plain(sender=email, subject="Lost"))
    message = corpus.plain(sender=email, subject="My mail to you bounced, see attached")
    message.add_attachment(inner)
    mail.send(message)
    record = record_of(db, message)
    assert record.outcome is MailOutcome.TICKET_CREATED, record.reason


def test_a_strangers_reply_with_the_right_number_opens_a_new_ticket(
    mail: MailService, db: Session
) -> None:
    first = corpus.plain(sender=stranger(), subject="My private problem")
    mail.send(first)
    ticket = ticket_of(db, first)
    local, _, domain = corpus.SUPPORT.partition("@")
    intruder = corpus.plain(
        sender=stranger(),
        to=f"{local}+{ticket_number(ticket.id)}@{domain}",
        subject=f"Re: {ticket_number(ticket.id)} My private problem",
        in_reply_to=str(first["Message-ID"]),
        body="Let me in.\n",
    )
    mail.send(intruder)
    record = record_of(db, intruder)
    assert record.outcome is MailOutcome.TICKET_CREATED
    assert record.ticket_id != ticket.id
    comments = db.scalar(
        select(func.count()).select_from(TicketComment).where(TicketComment.ticket_id == ticket.id)
    )
    assert comments == 0


def test_the_same_message_delivered_twice_makes_one_ticket(mail: MailService, db: Session) -> None:
    message = corpus.plain(sender=stranger(), subject="Delivered twice")
    mail.send(message)
    mail.send(message)
    assert record_of(db, message).outcome is MailOutcome.TICKET_CREATED
    titled = db.scalar(
        select(func.count()).select_from(Ticket).where(Ticket.title == "Delivered twice")
    )
    assert titled == 1


def test_a_message_without_message_id_is_deduped_by_its_bytes(
    mail: MailService, db: Session
) -> None:
    body = f"no id {uuid.uuid4().hex}\n"
    message = corpus.without_message_id(sender=stranger(), body=body)
    raw = message.as_bytes(policy=SMTP)
    mail.send(raw)
    mail.send(raw)
    db.expire_all()
    records = db.scalars(
        select(MailMessage).where(MailMessage.message_id == derived_message_id(raw))
    ).all()
    assert [record.outcome for record in records] == [MailOutcome.TICKET_CREATED]
    assert (
        db.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.description == body.strip())
        )
        == 1
    )


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        pytest.param(
            lambda s: corpus.out_of_office(sender=s), "auto-submitted", id="out-of-office"
        ),
        pytest.param(
            lambda s: corpus.bounce(original=corpus.plain(sender=s)),
            "delivery status notification",
            id="bounce-dsn",
        ),
        pytest.param(
            lambda s: corpus.plain(sender=s, extra={"Precedence": "bulk"}), "precedence", id="bulk"
        ),
        pytest.param(
            lambda s: corpus.plain(sender=s, extra={"X-Autorespond": "yes"}),
            "x-autorespond",
            id="x-autorespond",
        ),
        pytest.param(
            lambda s: corpus.plain(
                sender=s, message_id=f"<ticket-1-{uuid.uuid4().hex}@support.example>"
            ),
            "loop",
            id="our-own-message-id",
        ),
    ],
)
def test_machine_mail_is_recorded_and_dropped(
    mail: MailService, db: Session, build: object, reason: str
) -> None:
    assert callable(build)
    message = build(stranger())
    before = db.scalar(select(func.count()).select_from(Ticket))
    mail.send(message)
    record = record_of(db, message)
    assert record.outcome is MailOutcome.DROPPED
    assert reason in record.reason
    assert record.ticket_id is None
    assert db.scalar(select(func.count()).select_from(Ticket)) == before


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        pytest.param(corpus.raw_unknown_charset, "unknown charset", id="unknown-charset"),
        pytest.param(corpus.raw_broken_multipart, "malformed MIME", id="broken-multipart"),
    ],
)
def test_unreadable_mail_is_quarantined_with_the_reason(
    mail: MailService, db: Session, build: object, reason: str
) -> None:
    assert callable(build)
    sender = stranger()
    mail.send(build(sender=sender))
    db.expire_all()
    record = db.scalars(select(MailMessage).where(MailMessage.from_address == sender)).one()
    assert record.outcome is MailOutcome.QUARANTINED
    assert reason in record.reason
    assert record.ticket_id is None


def test_the_new_tickets_event_is_published_after_the_commit(
    mail: MailService, db: Session
) -> None:
    message = corpus.plain(sender=stranger(), subject="Announced to the stream")
    mail.send(message)
    ticket_id = ticket_of(db, message).id
    created = select(OutboxEvent.published_at).where(
        OutboxEvent.ticket_id == ticket_id, OutboxEvent.event_type == "ticket.created"
    )

    def published() -> bool:
        db.expire_all()
        return db.scalar(created) is not None

    wait_until(published, timeout=15, what="ticket.created published")


def test_a_cc_of_the_ticket_may_reply_by_mail(
    mail: MailService, db: Session, agent: httpx.Client
) -> None:
    first = corpus.plain(sender=stranger(), subject="Copy my colleague")
    mail.send(first)
    ticket = ticket_of(db, first)
    colleague = stranger()
    mail.send(corpus.plain(sender=colleague, subject="Colleague's own ticket"))  # now a user
    colleague_id = db.scalars(select(User.id).where(User.email == colleague)).one()
    added = agent.post(f"/tickets/{ticket.id}/ccs", json={"user_id": colleague_id})
    assert added.status_code == 201, added.text
    reply = corpus.plain(
        sender=colleague, subject="Re: Copy my colleague", in_reply_to=str(first["Message-ID"])
    )
    mail.send(reply)
    record = record_of(db, reply)
    assert (record.outcome, record.ticket_id) == (MailOutcome.COMMENTED, ticket.id)


def test_a_reply_to_a_merged_ticket_lands_on_the_ticket_it_was_merged_into(
    mail: MailService, db: Session, agent: httpx.Client
) -> None:
    sender = stranger()
    first = corpus.plain(sender=sender, subject="First report")
    second = corpus.plain(sender=sender, subject="Second report of the same")
    mail.send(first)
    mail.send(second)
    merged, kept = ticket_of(db, second), ticket_of(db, first)
    answer = agent.post(f"/tickets/{merged.id}/merge", json={"into": kept.id})
    assert answer.status_code == 200, answer.text
    reply = corpus.plain(
        sender=sender, subject="Re: Second report", in_reply_to=str(second["Message-ID"])
    )
    mail.send(reply)
    record = record_of(db, reply)
    assert (record.outcome, record.ticket_id) == (MailOutcome.COMMENTED, kept.id)


def test_mail_from_a_deactivated_user_is_quarantined(
    mail: MailService, db: Session, admin: httpx.Client
) -> None:
    sender = stranger()
    first = corpus.plain(sender=sender, subject="Before I left")
    mail.send(first)
    ticket = ticket_of(db, first)
    changed = admin.patch(f"/users/{ticket.requester_id}", json={"active": False})
    assert changed.status_code == 200, changed.text
    reply = corpus.plain(
        sender=sender, subject="Re: Before I left", in_reply_to=str(first["Message-ID"])
    )
    mail.send(reply)
    record = record_of(db, reply)
    assert record.outcome is MailOutcome.QUARANTINED
    assert "deactivated" in record.reason


def test_a_reply_to_mail_out_threads_by_its_message_id(mail: MailService, db: Session) -> None:
    sender = stranger()
    first = corpus.plain(sender=sender, subject="Answered by mail out")
    mail.send(first)
    ticket = ticket_of(db, first)
    sent_by_us = f"<ticket-{ticket.id}-{uuid.uuid4().hex}@support.example>"
    reply = corpus.plain(
        sender=sender,
        subject="Re: your reply",
        in_reply_to=sent_by_us,
        references=f"<ticket-{ticket.id}@support.example> {sent_by_us}",
    )
    mail.send(reply)
    record = record_of(db, reply)
    assert (record.outcome, record.ticket_id) == (MailOutcome.COMMENTED, ticket.id)


def test_the_original_message_and_its_parts_become_the_tickets_attachments(
    mail: MailService, db: Session
) -> None:
    message = corpus.nested(sender=stranger(), text="Attached, as promised.")
    mail.send(message)
    ticket = ticket_of(db, message)
    attached = db.scalars(
        select(Attachment).where(Attachment.ticket_id == ticket.id).order_by(Attachment.id)
    ).all()
    assert [(a.filename, a.content_type, a.comment_id, a.source) for a in attached] == [
        ("message.eml", "message/rfc822", None, "mail"),
        ("logo.png", "image/png", None, "mail"),
        ("invoice.pdf", "application/pdf", None, "mail"),
    ]
    assert attached[0].blob == record_of(db, message).raw_blob
    assert attached[0].uploaded_by == ticket.requester_id


def test_a_replys_message_is_attached_to_its_comment(mail: MailService, db: Session) -> None:
    sender = stranger()
    first = corpus.plain(sender=sender, subject="Reply with a file")
    mail.send(first)
    reply = corpus.plain(sender=sender, subject="Re: file", in_reply_to=str(first["Message-ID"]))
    reply.add_attachment(b"log line\n", maintype="text", subtype="plain", filename="app.log")
    mail.send(reply)
    record = record_of(db, reply)
    attached = db.scalars(
        select(Attachment).where(Attachment.comment_id == record.comment_id).order_by(Attachment.id)
    ).all()
    assert [(a.filename, a.ticket_id) for a in attached] == [
        ("message.eml", record.ticket_id),
        ("app.log", record.ticket_id),
    ]
