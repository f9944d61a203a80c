"""Real-world shapes of mail, built with the `email.message` API (no fixtures on disk)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

SUPPORT = "help@support.example"
BILLING = "billing@support.example"
# A 1x1 PNG: what an inline logo in a signature looks like to us.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def new_message_id() -> str:
    return f"<{uuid.uuid4().hex}@mail.example.org>"


def _headers(
    message: EmailMessage, *, sender: str, to: str, subject: str | None, message_id: str | None
) -> EmailMessage:
    message["From"] = sender
    message["To"] = to
    if subject is not None:
        message["Subject"] = subject
    message["Date"] = format_datetime(datetime.now(UTC))
    if message_id is not None:
        message["Message-ID"] = message_id
    return message


def plain(
    *,
    sender: str,
    to: str = SUPPORT,
    subject: str | None = "Printer on fire",
    body: str = "The printer is on fire.\n",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: str | None = None,
    charset: str = "utf-8",
    cte: str | None = None,
    extra: dict[str, str] | None = None,
) -> EmailMessage:
    message = _headers(
        EmailMessage(),
        sender=sender,
        to=to,
        subject=subject,
        message_id=message_id if message_id is not None else new_message_id(),
    )
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    if references:
        message["References"] = references
    for name, value in (extra or {}).items():
        message[name] = value
    message.set_content(body, charset=charset, cte=cte)
    return message


def without_message_id(*, sender: str, body: str) -> EmailMessage:
    message = _headers(EmailMessage(), sender=sender, to=SUPPORT, subject="No id", message_id=None)
    message.set_content(body)
    return message


def alternative(*, sender: str, text: str, html: str) -> EmailMessage:
    message = plain(sender=sender, subject="Both kinds", body=text)
    message.add_alternative(html, subtype="html")
    return message


def html_only(*, sender: str, html: str) -> EmailMessage:
    message = _headers(
        EmailMessage(), sender=sender, to=SUPPORT, subject="HTML only", message_id=new_message_id()
    )
    message.set_content(html, subtype="html")
    return message


def nested(*, sender: str, text: str) -> EmailMessage:
    """mixed[ alternative[ text, related[ html, inline image ] ], attachment ]: what desktop
    clients send for a styled mail with a logo and a PDF."""
    message = plain(sender=sender, subject="Nested parts", body=text)
    message.add_alternative(
        f"<html><body><p>{text}</p><img src='cid:logo'></body></html>", subtype="html"
    )
    html_part = message.get_payload()[1]
    assert isinstance(html_part, EmailMessage)
    html_part.add_related(PNG, maintype="image", subtype="png", cid="<logo>", filename="logo.png")
    message.add_attachment(
        b"%PDF-1.4 invoice", maintype="application", subtype="pdf", filename="invoice.pdf"
    )
    return message


def with_attachment(*, sender: str, size: int) -> EmailMessage:
    message = plain(sender=sender, subject="Big log file", body="The log is attached.\n")
    message.add_attachment(
        bytes(range(256)) * (size // 256),
        maintype="application",
        subtype="octet-stream",
        filename="server.log",
    )
    return message


def out_of_office(*, sender: str) -> EmailMessage:
    return plain(
        sender=sender,
        subject="Out of office: Printer on fire",
        body="I am away until Monday.\n",
        extra={"Auto-Submitted": "auto-replied", "X-Autoreply": "yes"},
    )


def bounce(*, original: EmailMessage) -> EmailMessage:
    """A delivery status notification (RFC 3464), as a mail server sends for a dead address."""
    message = _headers(
        EmailMessage(),
        sender="Mail Delivery System <MAILER-DAEMON@mx.example.org>",
        to=SUPPORT,
        subject="Undelivered Mail Returned to Sender",
        message_id=new_message_id(),
    )
    message.set_content("This is the mail system. Your message could not be delivered.\n")
    message.make_mixed()
    message.attach(_delivery_status())
    returned = EmailMessage()
    returned.set_content(original)  # message/rfc822
    message.attach(returned)
    message.set_type("multipart/report")
    message.set_param("report-type", "delivery-status")
    return message


def _delivery_status() -> EmailMessage:
    """message/delivery-status: a block about the reporting server, one per recipient."""
    reporting = EmailMessage()
    reporting["Reporting-MTA"] = "dns; mx.example.org"
    recipient = EmailMessage()
    recipient["Final-Recipient"] = "rfc822; gone@example.org"
    recipient["Action"] = "failed"
    recipient["Status"] = "5.1.1"
    part = EmailMessage()
    part["Content-Type"] = "message/delivery-status"
    part.set_payload([reporting, recipient])
    return part


def raw_unknown_charset(*, sender: str) -> bytes:
    return (
        f"From: {sender}\r\nTo: {SUPPORT}\r\nSubject: Strange charset\r\n"
        f"Message-ID: {new_message_id()}\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=x-no-such-charset\r\n\r\nhello\xe9\r\n"
    ).encode("latin-1")


def raw_broken_multipart(*, sender: str) -> bytes:
    return (
        f"From: {sender}\r\nTo: {SUPPORT}\r\nSubject: Broken MIME\r\n"
        f"Message-ID: {new_message_id()}\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="declared"\r\n\r\n'
        "--another\r\nContent-Type: text/plain\r\n\r\nhello\r\n--another--\r\n"
    ).encode()


def address(name: str, email: str) -> str:
    return str(Address(display_name=name, addr_spec=email))
