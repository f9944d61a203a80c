"""The sample data a fresh installation starts with (ids 1, 2, … in the order below)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.api.articles.schemas import ArticleCreate
from services.api.articles.service import create_article
from services.api.automations.schemas import AutomationCreate
from services.api.automations.service import create_automation
from services.api.tickets.schemas import TicketCreate
from services.api.tickets.service import create_ticket
from shared.models import Category, PriorityLevel, Role, Status, User

USERS = [
    ("John Doe", "john.doe@example.com", Role.CUSTOMER),
    ("Jane Smith", "jane.smith@example.com", Role.CUSTOMER),
    ("Bob Wilson", "bob.wilson@example.com", Role.CUSTOMER),
    ("Sarah Johnson", "sarah.johnson@example.com", Role.AGENT),
    ("Mike Chen", "mike.chen@example.com", Role.AGENT),
    ("Admin User", "admin@example.com", Role.ADMIN),
]

CATEGORIES = [
    ("Account Access", "Login and account issues", 4),
    ("Billing & Payments", "Payment and subscription questions", 6),
    ("Technical Support", "Bugs and performance problems", 8),
    ("Product Features", "How-to questions and feature requests", 12),
    ("Security Issues", "Security concerns", 2),
    ("General Support", "Other inquiries", 24),
]

# (name, description, rank, resolution hours, first-response hours, colour)
PRIORITIES = [
    ("Critical", "System down, security breach", 1, 1, 0.25, "#dc2626"),
    ("High", "Cannot access account", 2, 4, 1, "#ea580c"),
    ("Medium", "Feature not working", 3, 8, 4, "#ca8a04"),
    ("Low", "General questions", 4, 24, 8, "#16a34a"),
]

STATUSES = [
    ("Open", "New, waiting for an agent", "#2563eb", False, False),
    ("In Progress", "An agent is working on it", "#7c3aed", False, False),
    (
        "Waiting on Customer",
        "Waiting for the customer's reply; the SLA clock is paused",
        "#d97706",
        False,
        True,
    ),
    ("Resolved", "A solution was given", "#16a34a", True, False),
    ("Closed", "Finished", "#6b7280", True, False),
]

# (title, description, requester id, category id, priority id, tags)
TICKETS = [
    (
        "Cannot log into account after password change",
        "I changed my password yesterday and now I cannot log into my account. The login page "
        "says my credentials are invalid, and the reset email never arrives.",
        1,
        1,
        2,
        "login,password,account",
    ),
    (
        "Payment declined for subscription renewal",
        "My credit card payment was declined when trying to renew my annual subscription. The "
        "card works elsewhere and my bank sees no attempted charge.",
        2,
        2,
        2,
        "payment,subscription,billing",
    ),
    (
        "App crashes on the settings page",
        "The mobile app closes every time I open Settings since the last update (version 4.2 on "
        "Android 14). Reinstalling did not help.",
        3,
        3,
        3,
        "crash,mobile,settings",
    ),
    (
        "Help setting up two-factor authentication",
        "I want to turn on 2FA but the QR code does not scan in my authenticator app. Is there "
        "a manual setup key I can type in instead?",
        1,
        1,
        4,
        "2fa,security,setup",
    ),
    (
        "Suspicious login from an unknown location",
        "I received an alert about a sign-in from a country I have never visited. I did not make "
        "this login. Please lock my account and check what was accessed.",
        2,
        5,
        1,
        "security,login,alert",
    ),
    (
        "Dashboard takes over a minute to load",
        "Since Monday the analytics dashboard takes more than a minute to load and sometimes "
        "times out. Other pages are fast.",
        3,
        3,
        3,
        "performance,dashboard",
    ),
    (
        "Missing invoice for October",
        "I cannot find the invoice for my October payment in the billing section. Our "
        "accountant needs it for the quarterly report.",
        1,
        2,
        4,
        "invoice,billing",
    ),
    (
        "Feature request: dark mode",
        "Please add a dark mode to the web app. Working late with the bright interface is hard "
        "on the eyes, and most tools we use already offer one.",
        2,
        4,
        4,
        "feature-request,ui,dark-mode",
    ),
]


# Knowledge-base articles by Sarah Johnson: (title, Markdown body, tags, published)
ARTICLES = [
    (
        "Resetting your password",
        "If you cannot log in after changing your password:\n\n"
        "1. Open the login page and choose **Forgot password**.\n"
        "2. Enter the email address of your account; the reset email arrives within minutes.\n"
        "3. Check the spam folder if it does not, then follow the link to set a new password.\n\n"
        "Saved passwords in your browser may still hold the old one: update them too.",
        "password,login,account",
        True,
    ),
    (
        "Setting up two-factor authentication",
        "Open **Settings > Security > Two-factor authentication** and scan the QR code with an "
        "authenticator app.\n\nIf the QR code does not scan, choose **Enter a setup key** and "
        "type the key shown under the code into the app instead.",
        "2fa,security,setup",
        True,
    ),
    (
        "Why a card payment is declined",
        "A declined renewal usually means the card expired, the billing address differs from "
        "the bank's, or the bank blocked an online payment.\n\nUpdate the card under "
        "**Billing > Payment methods**, then retry the subscription payment.",
        "payment,billing,subscription",
        True,
    ),
    (
        "Finding and downloading invoices",
        "Every payment has an invoice under **Billing > Invoices**; download it as PDF. An "
        "invoice appears up to a day after the payment.",
        "invoice,billing",
        True,
    ),
    (
        "Dark mode: status of the request",
        "Internal draft: dark mode is planned for the web app; do not promise a date yet.",
        "feature-request,ui,dark-mode",
        False,
    ),
]


# Examples, off until an admin turns them on (ids follow STATUSES and PRIORITIES above).
AUTOMATIONS = [
    {
        "name": "Resolve after 72 h waiting on the customer",
        "description": "A ticket Waiting on Customer for 72 hours is resolved, with a note.",
        "active": False,
        "conditions": {
            "time": [{"kind": "hours_since", "anchor": "status_entered", "hours": 72}],
            "all": [{"kind": "field", "field": "status_id", "value": 3}],
        },
        "actions": [
            {"kind": "set_status", "status_id": 4},
            {
                "kind": "add_note",
                "body": "Resolved automatically: no reply from the customer for 72 hours.",
            },
        ],
    },
    {
        "name": "Escalate unassigned tickets after 1 h",
        "description": "A ticket nobody has taken an hour after it was opened goes to a human "
        "of its category's pool, at High priority at least.",
        "active": False,
        "conditions": {
            "time": [{"kind": "hours_since", "anchor": "created", "hours": 1}],
            "all": [
                {"kind": "field", "field": "assigned_to", "value": None},
                {"kind": "field", "field": "status_id", "operator": "is_not", "value": 4},
                {"kind": "field", "field": "status_id", "operator": "is_not", "value": 5},
            ],
        },
        "actions": [
            {
                "kind": "escalate",
                "reason": "nobody took the ticket within an hour",
                "priority_id": 2,
            }
        ],
    },
]


def is_empty(session: Session) -> bool:
    return not session.scalar(select(func.count()).select_from(User))


def seed_sample_data(session: Session) -> bool:
    """Load the sample data into an empty database; returns False (and does nothing) otherwise."""
    if not is_empty(session):
        return False
    session.add_all(User(name=n, email=e, role=r) for n, e, r in USERS)
    session.add_all(Category(name=n, description=d, sla_hours=h) for n, d, h in CATEGORIES)
    session.add_all(
        PriorityLevel(name=n, description=d, rank=r, sla_hours=h, first_response_hours=f, colour=c)
        for n, d, r, h, f, c in PRIORITIES
    )
    session.add_all(
        Status(name=n, description=d, colour=c, is_closed=closed, pauses_sla=pauses, position=i)
        for i, (n, d, c, closed, pauses) in enumerate(STATUSES, start=1)
    )
    session.flush()
    admin = session.scalars(select(User).where(User.role == Role.ADMIN)).one()
    for title, description, requester, category, priority, tags in TICKETS:
        request = TicketCreate(
            title=title,
            description=description,
            user_id=requester,
            category_id=category,
            priority_id=priority,
            tags=tags,
        )
        create_ticket(session, actor=admin, request=request)
    author = session.scalars(select(User).where(User.email == "sarah.johnson@example.com")).one()
    for title, body, tags, published in ARTICLES:
        article = ArticleCreate(title=title, body=body, tags=tags, published=published)
        create_article(session, actor=author, request=article)
    for automation in AUTOMATIONS:
        create_automation(session, actor=admin, fields=AutomationCreate.model_validate(automation))
    return True
