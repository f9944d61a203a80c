"""Every table, importable from one place (Alembic's autogenerate reads `Base.metadata`)."""

from shared.models.article import Article, TicketArticle, article_tags
from shared.models.attachment import Attachment
from shared.models.automation import Automation, AutomationFailure, AutomationFiring
from shared.models.base import Base
from shared.models.comment import TicketComment
from shared.models.custom_field import CustomField, CustomFieldType, ticket_custom_values
from shared.models.history import TicketHistory
from shared.models.idempotency import IdempotencyKey
from shared.models.macro import Macro
from shared.models.mail import MailDirection, MailMessage, MailOutcome
from shared.models.mail_out import (
    MailKind,
    MailStatus,
    MailTemplate,
    OutboundMail,
    OutboundMailAttempt,
)
from shared.models.outbox import OutboxEvent
from shared.models.participant import ticket_ccs, ticket_followers
from shared.models.processing import ProcessedEvent, StatsSnapshot
from shared.models.reference import BusinessCalendar, Category, PriorityLevel, Status
from shared.models.reference_version import ReferenceVersion
from shared.models.routing import (
    AssignmentPool,
    AssignmentPoolMember,
    AssignmentStrategy,
    TicketEscalation,
)
from shared.models.sla import SlaPause
from shared.models.ticket import (
    SlaStatus,
    Tag,
    Ticket,
    parse_ticket_ref,
    ticket_number,
    ticket_tags,
)
from shared.models.ticket_link import LinkKind, TicketLink
from shared.models.trigger import Trigger, TriggerFailure
from shared.models.user import ApiKey, Role, User
from shared.models.webhook import (
    DeliveryStatus,
    NotifiedEvent,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

__all__ = [
    "ApiKey",
    "Article",
    "AssignmentPool",
    "AssignmentPoolMember",
    "AssignmentStrategy",
    "Attachment",
    "Automation",
    "AutomationFailure",
    "AutomationFiring",
    "Base",
    "BusinessCalendar",
    "Category",
    "CustomField",
    "CustomFieldType",
    "DeliveryStatus",
    "IdempotencyKey",
    "LinkKind",
    "MailKind",
    "MailStatus",
    "MailTemplate",
    "Macro",
    "MailDirection",
    "MailMessage",
    "MailOutcome",
    "NotifiedEvent",
    "OutboundMail",
    "OutboundMailAttempt",
    "OutboxEvent",
    "PriorityLevel",
    "ProcessedEvent",
    "ReferenceVersion",
    "Role",
    "SlaPause",
    "SlaStatus",
    "StatsSnapshot",
    "Status",
    "Tag",
    "Ticket",
    "TicketArticle",
    "TicketComment",
    "TicketEscalation",
    "TicketHistory",
    "TicketLink",
    "Trigger",
    "TriggerFailure",
    "User",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "article_tags",
    "parse_ticket_ref",
    "ticket_ccs",
    "ticket_custom_values",
    "ticket_followers",
    "ticket_number",
    "ticket_tags",
]
