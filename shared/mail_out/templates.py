"""The templates mail is rendered from: shipped defaults, admins' edits (mail_templates), and the
one way both are rendered and checked.

Jinja2 in its sandbox (admins write the templates, but a template must not reach Python's
internals), StrictUndefined so a misspelt variable is an error rather than an empty string, and
autoescape in the HTML part: customer text (a title, a comment) never reaches it raw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy.orm import Session

from shared.models import MailKind, MailTemplate

_TEXT = SandboxedEnvironment(
    autoescape=False, undefined=StrictUndefined, keep_trailing_newline=True
)
_HTML = SandboxedEnvironment(autoescape=True, undefined=StrictUndefined, keep_trailing_newline=True)
MAX_SUBJECT_CHARS = 250

TEMPLATE_FIELDS = ("subject", "text", "html")


@dataclass(frozen=True)
class TemplateText:
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


class TemplateInvalid(ValueError):
    """A template that does not render against the documented variables."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


_TICKET_VARIABLES = {
    "ticket.number": "The ticket's number (TKT-042).",
    "ticket.title": "Its title (the customer's words).",
    "ticket.status": "Its status name.",
    "ticket.category": "Its category name.",
    "ticket.priority": "Its priority name.",
    "recipient.name": "The person the message goes to.",
    "requester.name": "The ticket's requester.",
    "support_address": "The address replies go to (local+TKT-042@domain).",
}
# The documented variables of each template: nothing else renders.
VARIABLES: dict[MailKind, dict[str, str]] = {
    MailKind.ACKNOWLEDGEMENT: {
        **_TICKET_VARIABLES,
        "ticket.description": "What the customer wrote when opening it.",
    },
    MailKind.REPLY: {
        **_TICKET_VARIABLES,
        "comment.body": "The reply.",
        "comment.author": "Who wrote it.",
    },
    MailKind.RESOLUTION: {
        **_TICKET_VARIABLES,
        "resolved_by": "Who resolved it (empty when the system did).",
    },
}

DESCRIPTIONS = {
    MailKind.ACKNOWLEDGEMENT: "Sent to the requester and CCs when a ticket is opened "
    "(MAIL_ACKNOWLEDGE_NEW_TICKETS).",
    MailKind.REPLY: "Sent to the requester and CCs when staff add a public reply.",
    MailKind.RESOLUTION: "Sent to the requester and CCs when the ticket is resolved.",
}

DEFAULTS: dict[MailKind, TemplateText] = {
    MailKind.ACKNOWLEDGEMENT: TemplateText(
        subject="[{{ ticket.number }}] {{ ticket.title }}",
        text="""Hello {{ recipient.name }},

we have received your request and opened ticket {{ ticket.number }}:

  {{ ticket.title }}

Our team will get back to you. Reply to this message to add to the ticket.

-- {# the signature separator: dash, dash, space #}
Support
""",
        html="""<p>Hello {{ recipient.name }},</p>
<p>we have received your request and opened ticket <strong>{{ ticket.number }}</strong>:</p>
<blockquote>{{ ticket.title }}</blockquote>
<p>Our team will get back to you. Reply to this message to add to the ticket.</p>
<p>&mdash; Support</p>
""",
    ),
    MailKind.REPLY: TemplateText(
        subject="Re: [{{ ticket.number }}] {{ ticket.title }}",
        text="""{{ comment.body }}

-- {# the signature separator: dash, dash, space #}
{{ comment.author }}, Support
Ticket {{ ticket.number }} ({{ ticket.status }}). Reply to this message to answer.
""",
        html="""<div style="white-space: pre-wrap">{{ comment.body }}</div>
<p>&mdash; {{ comment.author }}, Support</p>
<p style="color: #666">Ticket {{ ticket.number }} ({{ ticket.status }}).
Reply to this message to answer.</p>
""",
    ),
    MailKind.RESOLUTION: TemplateText(
        subject="Resolved: [{{ ticket.number }}] {{ ticket.title }}",
        text="""Hello {{ recipient.name }},

ticket {{ ticket.number }} ({{ ticket.title }}) has been resolved.

If something is still not right, reply to this message and we will look again.

-- {# the signature separator: dash, dash, space #}
Support
""",
        html="""<p>Hello {{ recipient.name }},</p>
<p>ticket <strong>{{ ticket.number }}</strong> ({{ ticket.title }}) has been resolved.</p>
<p>If something is still not right, reply to this message and we will look again.</p>
<p>&mdash; Support</p>
""",
    ),
}


def sample_variables(kind: MailKind) -> dict[str, Any]:
    """Made-up values of the documented variables, to check an edited template against."""
    variables: dict[str, Any] = {
        "ticket": {
            "number": "TKT-042",
            "title": "Printer on fire",
            "status": "Open",
            "category": "Hardware",
            "priority": "High",
        },
        "recipient": {"name": "John Doe"},
        "requester": {"name": "John Doe"},
        "support_address": "support+TKT-042@example.com",
    }
    if kind is MailKind.ACKNOWLEDGEMENT:
        variables["ticket"]["description"] = "It started smoking after the update."
    elif kind is MailKind.REPLY:
        variables["comment"] = {"body": "We have sent a technician.", "author": "Sarah Johnson"}
    else:
        variables["resolved_by"] = "Sarah Johnson"
    return variables


def _one_line(subject: str) -> str:
    # Every Unicode line break (U+2028, U+0085, VT, FF…), not only CR and LF: the email
    # package refuses a header holding any of them, and the mail would fail for good.
    return " ".join(subject.split())[:MAX_SUBJECT_CHARS]


def render(template: TemplateText, variables: dict[str, Any]) -> RenderedMail:
    """The three parts rendered; TemplateInvalid names the part that failed."""
    parts: dict[str, str] = {}
    for field, source in zip(
        TEMPLATE_FIELDS, (template.subject, template.text, template.html), strict=True
    ):
        environment = _HTML if field == "html" else _TEXT
        try:
            parts[field] = environment.from_string(source).render(variables)
        except TemplateError as exc:
            line = getattr(exc, "lineno", None)
            where = f" (line {line})" if line else ""
            raise TemplateInvalid(field, f"{exc.message or type(exc).__name__}{where}") from exc
    return RenderedMail(subject=_one_line(parts["subject"]), text=parts["text"], html=parts["html"])


def check(kind: MailKind, template: TemplateText) -> RenderedMail:
    """Render an edited template against sample data: a syntax error or an undocumented
    variable raises TemplateInvalid; an empty subject too."""
    rendered = render(template, sample_variables(kind))
    if not rendered.subject:
        raise TemplateInvalid("subject", "renders to an empty subject")
    return rendered


def current_template(session: Session, kind: MailKind) -> TemplateText:
    """The admins' version of a template, else the shipped one."""
    edited = session.get(MailTemplate, kind.value)
    if edited is None:
        return DEFAULTS[kind]
    return TemplateText(subject=edited.subject, text=edited.text, html=edited.html)
