"""The webhook contract: one model per event type, the `data` of its Standard Webhooks envelope.

These are the events' own schemas, published in the OpenAPI document's `webhooks` section; the
ticket inside is the ticket as staff see it. `actor` is who made the change: a user (`kind`
"user", left out of payloads as the default), a trigger (`kind` "trigger", with the depth of the
chain of triggers that led to it), an automation (`kind` "automation"), or null for the system
(an SLA breach, an automatic assignment).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.models import SlaStatus
from shared.ticket_view import TicketView, UserRef


class EventType(StrEnum):
    TICKET_CREATED = "ticket.created"
    TICKET_UPDATED = "ticket.updated"
    TICKET_STATUS_CHANGED = "ticket.status_changed"
    TICKET_ASSIGNED = "ticket.assigned"
    TICKET_RESOLVED = "ticket.resolved"
    TICKET_COMMENTED = "ticket.commented"
    TICKET_SLA_UPDATED = "ticket.sla_updated"
    TICKET_SLA_BREACHED = "ticket.sla_breached"
    TICKET_ESCALATED = "ticket.escalated"
    TICKET_MERGED = "ticket.merged"
    TICKET_FORWARDED = "ticket.forwarded"
    ARTICLE_CREATED = "article.created"
    ARTICLE_UPDATED = "article.updated"
    ARTICLE_DELETED = "article.deleted"


# The worker's own announcements: it records them as handled in the transaction that writes
# them, and they are never queued for it (handling one changes nothing the worker computes, and
# a Celery message costs more than the event's whole work).
WORKER_ANNOUNCEMENTS = frozenset(
    {EventType.TICKET_SLA_UPDATED.value, EventType.TICKET_FORWARDED.value}
)


class Change(BaseModel):
    """A field's value before and after: `{"from": …, "to": …}`. References are `{id, name}`."""

    model_config = ConfigDict(populate_by_name=True)

    from_: Any = Field(alias="from")
    to: Any


class UserActor(UserRef):
    """A person (or a bot user) who acted."""

    kind: Literal["user"] = Field(default="user", description="Absent from payloads: a user.")


class TriggerActor(BaseModel):
    """A trigger that acted on an event (its change may fire other triggers, up to a cap)."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["trigger"]
    id: int
    name: str
    depth: int = Field(description="1 for a trigger fired by a person's or the system's change.")


class AutomationActor(BaseModel):
    """A time-based automation that acted on a ticket (its change may fire triggers)."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["automation"]
    id: int
    name: str


EventActor = UserActor | TriggerActor | AutomationActor


class EventData(BaseModel):
    event_type: ClassVar[EventType]
    actor: UserActor | TriggerActor | AutomationActor | None = Field(
        description="Who acted: a user, a trigger, an automation (`kind` says which); null for "
        "the system."
    )

    @field_validator("actor", mode="before")
    @classmethod
    def _user_actor(cls, value: Any) -> Any:
        """A plain UserRef (what `user_ref` gives) is a user actor."""
        if isinstance(value, UserRef) and not isinstance(value, UserActor):
            return UserActor(**value.model_dump())
        return value


class TicketEventData(EventData):
    ticket: TicketView


class TicketCreated(TicketEventData):
    """A ticket was opened."""

    event_type = EventType.TICKET_CREATED


class ArticleSummary(BaseModel):
    id: int
    title: str
    published: bool


class TicketUpdated(TicketEventData):
    """Title, description, category, priority, tags, custom values, linked articles,
    followers or CCs changed (`followers` / `ccs`: the lists of `{id, name}` before and after),
    or files were attached (`attachments`: from null to the list of `{id, filename,
    content_type, size, comment_id}` added)."""

    event_type = EventType.TICKET_UPDATED
    changes: dict[str, Change]
    article: ArticleSummary | None = Field(
        default=None, description="The article linked or unlinked, for an `articles` change."
    )


class TicketStatusChanged(TicketEventData):
    """The ticket moved to another status."""

    event_type = EventType.TICKET_STATUS_CHANGED
    changes: dict[str, Change]


class Routing(BaseModel):
    category_id: int
    strategy: str


class TicketAssigned(TicketEventData):
    """The assignee changed (to nobody, too)."""

    event_type = EventType.TICKET_ASSIGNED
    changes: dict[str, Change]
    routing: Routing | None = Field(
        default=None, description="The assignment pool that chose, for an automatic assignment."
    )


class TicketResolved(TicketEventData):
    """The ticket entered a closed status from an open one."""

    event_type = EventType.TICKET_RESOLVED
    changes: dict[str, Change] = Field(description="Always empty: see ticket.status_changed.")


class CommentData(BaseModel):
    id: int
    ticket_id: int
    author: UserRef
    body: str
    internal: bool
    created_at: datetime


class TicketCommented(TicketEventData):
    """A public reply or an internal note was added."""

    event_type = EventType.TICKET_COMMENTED
    comment: CommentData


class NamedRef(BaseModel):
    id: int
    name: str


class Escalation(BaseModel):
    reason: str
    from_: NamedRef | None = Field(alias="from")
    to: NamedRef | None
    comment_id: int

    model_config = ConfigDict(populate_by_name=True)


class TicketEscalated(TicketEventData):
    """A bot (or an agent) handed the ticket to a human."""

    event_type = EventType.TICKET_ESCALATED
    escalation: Escalation


class MergeTarget(BaseModel):
    id: int
    number: str


class TicketMerged(TicketEventData):
    """The ticket was merged into another: its comments copied there, itself closed with a
    `merged_into` link. `ticket` is the merged (closed) ticket; the target announces the
    change with a ticket.updated of its `links`."""

    event_type = EventType.TICKET_MERGED
    into: MergeTarget = Field(description="The ticket it was merged into.")
    comments_copied: int = Field(description="How many comments were copied onto the target.")
    public_comments_made_internal: bool = Field(
        description="Whether its public comments were copied as internal notes (the two "
        "tickets have different requesters, unless staff asked to keep them public)."
    )


class ForwardedEvent(BaseModel):
    id: str = Field(description="The event the trigger acted on.")
    type: EventType
    changes: dict[str, Change] = Field(default_factory=dict)


class TicketForwarded(TicketEventData):
    """A trigger sent an event to one chosen webhook endpoint: only that endpoint receives this
    (whatever it subscribes to), with the ticket as it is after the trigger's actions."""

    event_type = EventType.TICKET_FORWARDED
    endpoint_id: int
    event: ForwardedEvent


class SlaTargets(BaseModel):
    first_response_due_at: datetime | None = Field(
        description="When the first public reply is due (null: no target)."
    )
    resolution_due_at: datetime | None = Field(description="When the resolution is due.")
    status: SlaStatus = Field(description="The SLA state as the worker stored it.")


class TicketSlaUpdated(TicketEventData):
    """The worker set the ticket's due times (after its creation) or moved them (a category or
    priority change, a pause that ended). `changes` holds the due times that differ."""

    event_type = EventType.TICKET_SLA_UPDATED
    sla: SlaTargets
    changes: dict[str, Change]


class Breach(BaseModel):
    kind: str = Field(description="`first_response` or `resolution`.")
    due_at: datetime


class TicketSlaBreached(TicketEventData):
    """A first-response or resolution target passed; sent once per ticket."""

    event_type = EventType.TICKET_SLA_BREACHED
    breach: Breach


class ArticleData(BaseModel):
    id: int
    title: str
    body: str
    tags: list[str]
    published: bool
    author: UserRef
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    version: int


class ArticleCreated(EventData):
    """A knowledge-base article was written."""

    event_type = EventType.ARTICLE_CREATED
    article: ArticleData


class ArticleUpdated(EventData):
    """An article changed (its text, tags or publication)."""

    event_type = EventType.ARTICLE_UPDATED
    article: ArticleData
    changes: dict[str, Change]


class ArticleDeleted(EventData):
    """An article was deleted."""

    event_type = EventType.ARTICLE_DELETED
    article: ArticleData


EVENT_DATA: dict[EventType, type[EventData]] = {
    model.event_type: model
    for model in (
        TicketCreated,
        TicketUpdated,
        TicketStatusChanged,
        TicketAssigned,
        TicketResolved,
        TicketCommented,
        TicketEscalated,
        TicketMerged,
        TicketForwarded,
        TicketSlaUpdated,
        TicketSlaBreached,
        ArticleCreated,
        ArticleUpdated,
        ArticleDeleted,
    )
}

Data = TypeVar("Data", bound=EventData)


class Envelope(BaseModel, Generic[Data]):
    """What a subscriber receives: the Standard Webhooks payload shape."""

    id: str = Field(description="`evt_…`; also the `webhook-id` header, stable across retries.")
    type: EventType
    timestamp: datetime
    data: Data
