"""Reading a message's bytes into what deciding and writing need, defensively: a message the
stdlib `email` package (policy.default) cannot read is `Unreadable` with the reason, never an
exception."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.errors import (
    CloseBoundaryNotFoundDefect,
    MessageDefect,
    MultipartInvariantViolationDefect,
    StartBoundaryNotFoundDefect,
)
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses

import html2text

from shared.models.mail import derived_message_id
from shared.text_rules import control_character, without_control_characters

# Defects that leave the structure of the message unknown: what we would take from it might
# not be what the sender wrote.
_STRUCTURAL_DEFECTS: tuple[type[MessageDefect], ...] = (
    StartBoundaryNotFoundDefect,
    CloseBoundaryNotFoundDefect,
    MultipartInvariantViolationDefect,
)
_MESSAGE_ID = re.compile(r"<([^<>\s]+)>")
# Longer ones are cut: a unique index entry on PostgreSQL holds at most ~2,700 bytes.
MAX_MESSAGE_ID_LENGTH = 500


# Mail with more parts than this is quarantined unread (a real message has a few dozen).
MAX_PARTS = 200
_PART_HEADER = re.compile(rb"^content-type:", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Part:
    """An attachment (or inline image) of the message."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Mail:
    message_id: str
    sender: Address
    subject: str
    text: str  # the text part (or the HTML part as text), line breaks normalised
    in_reply_to: list[str]
    references: list[str]
    parts: list[Part]
    headers: dict[str, str]  # lower-cased names; the first of each
    content_type: str
    report_type: str
    part_types: list[str] = field(default_factory=list)
    # Every Authentication-Results header, as the receiving relays wrote them.
    authentication_results: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Unreadable:
    message_id: str
    reason: str
    sender: str = ""
    subject: str = ""


def message_ids(value: str | None) -> list[str]:
    """The Message-IDs of an `In-Reply-To` / `References` header, without angle brackets."""
    if not value:
        return []
    found = _MESSAGE_ID.findall(value)
    if not found and value.strip() and " " not in value.strip():
        found = [value.strip()]
    return [each[:MAX_MESSAGE_ID_LENGTH] for each in found]


def clean_text(text: str) -> str:
    """Line breaks as \\n, and no control characters (the API refuses them in every text)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return without_control_characters(text)


def html_as_text(html: str) -> str:
    converter = html2text.HTML2Text()
    converter.body_width = 0  # keep the sender's lines
    converter.ignore_images = True
    return converter.handle(html).strip()


def _header(message: Message, name: str) -> str:
    try:
        value = message.get(name)
    except Exception:  # a header that cannot be decoded is as good as absent
        return ""
    if value is None:
        return ""
    # One line: titles and addresses take no line breaks or tabs.
    return " ".join(clean_text(str(value)).split())


def _content(part: EmailMessage) -> str | bytes:
    """The decoded content; LookupError for an unknown charset (the caller quarantines)."""
    content = part.get_content()
    if isinstance(content, str | bytes):
        return content
    raise ValueError(f"unexpected content of a {part.get_content_type()} part")


def _body_and_parts(message: EmailMessage) -> tuple[str, list[Part], list[str]]:
    text: str | None = None
    html: str | None = None
    parts: list[Part] = []
    types: list[str] = []
    for part in message.walk():
        assert isinstance(part, EmailMessage)
        kind = part.get_content_type()
        types.append(kind)
        if part.is_multipart():
            continue
        disposition = part.get_content_disposition()
        filename = part.get_filename()
        if disposition == "attachment" or filename or not kind.startswith("text/"):
            if kind == "message/delivery-status" or kind.startswith("message/"):
                payload = part.as_bytes()
            else:
                decoded = part.get_payload(decode=True)
                payload = decoded if isinstance(decoded, bytes) else b""
            parts.append(Part(filename=clean_text(filename or ""), content_type=kind, data=payload))
            continue
        content = _content(part)
        body = content if isinstance(content, str) else content.decode("utf-8", "replace")
        if kind == "text/plain" and text is None:
            text = body
        elif kind == "text/html" and html is None:
            html = body
    if text is None and html is not None:
        text = html_as_text(html)
    return clean_text(text or "").strip(), parts, types


def read_mail(raw: bytes) -> Mail | Unreadable:
    """Parse the message; anything it cannot read is `Unreadable` with the reason."""
    fallback_id = derived_message_id(raw)
    # Parsing costs time and memory by the part: count them before (a header a part).
    if len(_PART_HEADER.findall(raw)) > MAX_PARTS:
        top = BytesParser(policy=policy.default).parsebytes(raw, headersonly=True)
        assert isinstance(top, EmailMessage)
        found = message_ids(_header(top, "Message-ID"))
        return Unreadable(
            found[0] if found else fallback_id,
            f"more than {MAX_PARTS} MIME parts",
            _header(top, "From"),
            _header(top, "Subject"),
        )
    try:
        message = message_from_bytes(raw, policy=policy.default)
    except Exception as exc:  # the parser is meant not to raise; a bug in it must not either
        return Unreadable(fallback_id, f"unreadable message: {exc!r}"[:500])
    assert isinstance(message, EmailMessage)
    found = message_ids(_header(message, "Message-ID"))
    message_id = found[0] if found else fallback_id  # already cut to MAX_MESSAGE_ID_LENGTH
    subject = _header(message, "Subject")
    sender_text = _header(message, "From")
    try:
        return _read(message, message_id=message_id, subject=subject, sender_text=sender_text)
    except LookupError as exc:
        return Unreadable(message_id, f"unknown charset: {exc}", sender_text, subject)
    except Exception as exc:
        return Unreadable(message_id, f"malformed MIME: {exc!r}"[:500], sender_text, subject)


def _read(message: EmailMessage, *, message_id: str, subject: str, sender_text: str) -> Mail:
    defects = [
        defect
        for part in message.walk()
        for defect in part.defects
        if isinstance(defect, _STRUCTURAL_DEFECTS)
    ]
    if defects:
        raise ValueError(f"{type(defects[0]).__name__}")
    if sum(1 for _ in message.walk()) > MAX_PARTS:
        raise ValueError(f"more than {MAX_PARTS} MIME parts")
    senders = [
        Address(display_name=clean_text(name), addr_spec=address)
        for name, address in getaddresses([sender_text])
        if "@" in address
    ]
    if not senders or control_character(senders[0].addr_spec):
        raise ValueError("no sender address in From")
    text, parts, types = _body_and_parts(message)
    headers: dict[str, str] = {}
    for name in message:
        headers.setdefault(name.lower(), _header(message, name))
    return Mail(
        message_id=message_id,
        sender=senders[0],
        subject=subject,
        text=text,
        in_reply_to=message_ids(headers.get("in-reply-to")),
        references=message_ids(headers.get("references")),
        parts=parts,
        headers=headers,
        content_type=message.get_content_type(),
        report_type=str(message.get_param("report-type", "") or "").lower(),
        part_types=types,
        authentication_results=[str(v) for v in message.get_all("Authentication-Results") or []],
    )
