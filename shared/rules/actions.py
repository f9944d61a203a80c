"""Actions: what a rule does to a ticket, checked when the rule is saved, and their executor.

The field actions of one rule are made as one edit (one new version, one history batch, its
events) through `shared.ticket_updates.apply_ticket_edit`, the API's own implementation; notes
and replies follow as comments. `describe_actions` says what they would do, writing nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import select
from sqlalchemy.orm import Session

from shared import ticket_writes
from shared.custom_field_values import input_name, valid_value
from shared.errors import InvalidInput, InvalidReference
from shared.event_types import (
    AutomationActor,
    CommentData,
    ForwardedEvent,
    TicketCommented,
    TicketForwarded,
    TriggerActor,
    UserActor,
)
from shared.models import User, WebhookEndpoint, ticket_number
from shared.reference_cache import ReferenceData, reference_cache
from shared.routing import pick_assignee, routing_of
from shared.rules.conditions import TagName
from shared.rules.escalation import (
    Handover,
    escalation_outlook,
    plan_escalation,
    record_escalation,
)
from shared.ticket_changes import HistoryEntry, record_ticket_change
from shared.ticket_rows import row_view_for
from shared.ticket_updates import AppliedEdit, Editor, TicketEdit, apply_ticket_edit
from shared.ticket_view import TicketRow, user_ref

BODY_LENGTH = 5000
Body = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=BODY_LENGTH)
]
Tags = Annotated[list[TagName], Field(min_length=1, max_length=20)]
RefId = Annotated[int, Field(ge=1, le=2_147_483_647)]


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SetStatus(_Action):
    kind: Literal["set_status"]
    status_id: RefId


class SetPriority(_Action):
    kind: Literal["set_priority"]
    priority_id: RefId


class SetCategory(_Action):
    kind: Literal["set_category"]
    category_id: RefId


class SetAssignee(_Action):
    """Give the ticket to an agent (null: to nobody)."""

    kind: Literal["set_assignee"]
    assignee_id: RefId | None


class SetCustomField(_Action):
    kind: Literal["set_custom_field"]
    key: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,35}$")]
    value: Any = Field(description="A valid value of the field; null clears it.")


class AddTags(_Action):
    kind: Literal["add_tags"]
    tags: Tags


class RemoveTags(_Action):
    kind: Literal["remove_tags"]
    tags: Tags


class AddNote(_Action):
    """An internal note (customers never see it)."""

    kind: Literal["add_note"]
    body: Body


class PublicReply(_Action):
    """A public reply from a template; placeholders: see PLACEHOLDERS."""

    kind: Literal["reply"]
    template: Body


class AssignFromPool(_Action):
    """Assign through the ticket's category's assignment pool (its strategy picks)."""

    kind: Literal["assign_from_pool"]


class Escalate(_Action):
    """Hand a ticket held by a bot or by nobody to a human of its category's assignment pool,
    with an internal note giving the reason; `priority_id`, when more urgent, raises the
    priority. A ticket a human holds, or a closed one, is not escalated (the rule fails)."""

    kind: Literal["escalate"]
    reason: Body = "no agent has taken the ticket in time"
    priority_id: RefId | None = None


class SendToWebhook(_Action):
    """Send the event to one webhook endpoint (a `ticket.forwarded` event only it receives,
    after the other actions); the notifier delivers it like any other."""

    kind: Literal["send_to_webhook"]
    endpoint_id: RefId


Action = Annotated[
    SetStatus
    | SetPriority
    | SetCategory
    | SetAssignee
    | SetCustomField
    | AddTags
    | RemoveTags
    | AddNote
    | PublicReply
    | AssignFromPool
    | Escalate
    | SendToWebhook,
    Field(discriminator="kind"),
]

PLACEHOLDERS = frozenset(
    {
        "ticket.number",
        "ticket.id",
        "ticket.title",
        "requester.name",
        "assignee.name",
        "status",
        "priority",
        "category",
    }
)
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


def unknown_placeholders(template: str) -> list[str]:
    return [name for name in _PLACEHOLDER.findall(template) if name not in PLACEHOLDERS]


def render_template(template: str, values: dict[str, str]) -> str:
    """Put the values in, in one pass: a value (a customer's title) is never read as a
    template itself."""
    return _PLACEHOLDER.sub(lambda found: values.get(found.group(1), found.group(0)), template)


def check_actions(session: Session, actions: Sequence[Action], *, prefix: str = "actions") -> None:
    """Refuse (422 naming `actions.<i>.<field>`) what names nothing usable."""
    reference = reference_cache.reference(session)
    for index, action in enumerate(actions):
        where = f"{prefix}.{index}"
        if isinstance(action, SetStatus) and action.status_id not in reference.statuses:
            raise InvalidReference(
                f"no status with id {action.status_id}", field=f"{where}.status_id"
            )
        if isinstance(action, Escalate) and (
            action.priority_id is not None and action.priority_id not in reference.priorities
        ):
            raise InvalidReference(
                f"no priority with id {action.priority_id}", field=f"{where}.priority_id"
            )
        if isinstance(action, SetPriority) and action.priority_id not in reference.priorities:
            raise InvalidReference(
                f"no priority with id {action.priority_id}", field=f"{where}.priority_id"
            )
        if isinstance(action, SetCategory):
            category = reference.categories.get(action.category_id)
            if category is None or not category.active:
                raise InvalidReference(
                    f"no active category with id {action.category_id}",
                    field=f"{where}.category_id",
                )
        if isinstance(action, SetAssignee) and action.assignee_id is not None:
            person = reference_cache.person(session, user_id=action.assignee_id)
            if person is None or not person.active or not person.role.is_staff:
                raise InvalidReference(
                    f"no active agent or admin with id {action.assignee_id}",
                    field=f"{where}.assignee_id",
                )
        if isinstance(action, SetCustomField):
            field = reference.active_custom_fields.get(action.key)
            if field is None:
                raise InvalidReference(f"no custom field {action.key!r}", field=f"{where}.key")
            try:
                valid_value(field, action.value)
            except InvalidInput as error:
                raise InvalidInput(error.detail, field=f"{where}.value") from None
        if isinstance(action, SendToWebhook) and not _endpoint_exists(session, action.endpoint_id):
            raise InvalidReference(
                f"no webhook endpoint with id {action.endpoint_id}", field=f"{where}.endpoint_id"
            )
        if isinstance(action, PublicReply) and (unknown := unknown_placeholders(action.template)):
            known = ", ".join(f"{{{{{name}}}}}" for name in sorted(PLACEHOLDERS))
            raise InvalidInput(
                f"unknown placeholder {{{{{unknown[0]}}}}} (known: {known})",
                field=f"{where}.template",
            )


def _endpoint_exists(session: Session, endpoint_id: int, *, enabled: bool = False) -> bool:
    """Read only: the notifier owns the endpoints' delivery state."""
    query = select(WebhookEndpoint.id).where(WebhookEndpoint.id == endpoint_id)
    if enabled:
        query = query.where(WebhookEndpoint.enabled.is_(True))
    return session.scalar(query) is not None


@dataclass(frozen=True)
class ActionsDone:
    row: TicketRow  # the ticket after the actions
    announced: list[str]  # ids of events only the notifier consumes (ticket.forwarded)
    comments: tuple[CommentData, ...] = ()  # the notes and replies added, in order


@dataclass(frozen=True)
class RuleActor:
    """The rule acting: named in the history and events; `author_id` writes its comments."""

    trigger_id: int
    name: str
    depth: int
    author_id: int

    def event_actor(self) -> TriggerActor:
        return TriggerActor(kind="trigger", id=self.trigger_id, name=self.name, depth=self.depth)


@dataclass(frozen=True)
class PersonActor:
    """A person acting (an agent applying a macro): the history's actor, the events' user
    actor and the author of its comments. What they may change is the caller's to check; the
    custom fields they may set are theirs (as on a PATCH)."""

    user: User
    trigger_id: None = None

    @property
    def author_id(self) -> int:
        return self.user.id

    def event_actor(self) -> UserActor:
        return UserActor(**user_ref(self.user).model_dump())


@dataclass(frozen=True)
class AutomationRuleActor:
    """A time-based automation acting, with `RuleActor`'s interface (no trigger, depth 0: the
    triggers its changes fire are one deep)."""

    automation_id: int
    name: str
    author_id: int
    depth: int = 0

    @property
    def trigger_id(self) -> None:
        return None

    def event_actor(self) -> AutomationActor:
        return AutomationActor(kind="automation", id=self.automation_id, name=self.name)


Actor = RuleActor | PersonActor | AutomationRuleActor


def _automation_id(actor: Actor) -> int | None:
    return actor.automation_id if isinstance(actor, AutomationRuleActor) else None


def _editor(actor: Actor) -> Editor:
    if isinstance(actor, PersonActor):
        return Editor(user=actor.user, actor_id=actor.user.id, event_actor=actor.user)
    return Editor(
        user=None,
        actor_id=None,
        event_actor=actor.event_actor(),
        trigger_id=actor.trigger_id,
        automation_id=_automation_id(actor),
    )


def _actor_id(actor: Actor) -> int | None:
    """The history's `actor_id`: the person's; a rule's rows name it in `actor_trigger_id`."""
    return actor.user.id if isinstance(actor, PersonActor) else None


def _edit_of(row: TicketRow, actions: Sequence[Action]) -> TicketEdit:
    """The field actions as one edit; a later action wins over an earlier one."""
    sent: set[str] = set()
    values: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    tags = list(row.tags)
    for action in actions:
        if isinstance(action, SetStatus):
            values["status_id"] = action.status_id
        elif isinstance(action, SetPriority):
            sent.add("priority_id")
            values["priority_id"] = action.priority_id
        elif isinstance(action, SetCategory):
            sent.add("category_id")
            values["category_id"] = action.category_id
        elif isinstance(action, SetAssignee):
            sent.add("assigned_to")
            values["assigned_to"] = action.assignee_id
        elif isinstance(action, SetCustomField):
            custom[action.key] = action.value
        elif isinstance(action, AddTags):
            sent.add("tags")
            tags += [tag for tag in action.tags if tag not in tags]
        elif isinstance(action, RemoveTags):
            sent.add("tags")
            tags = [tag for tag in tags if tag not in action.tags]
    return TicketEdit(sent=frozenset(sent), tags=tags, custom_fields=custom, **values)


def _template_values(session: Session, row: TicketRow, reference: ReferenceData) -> dict[str, str]:
    requester = reference_cache.person(session, user_id=row.requester_id)
    assignee = reference_cache.person(session, user_id=row.assignee_id) if row.assignee_id else None
    return {
        "ticket.number": ticket_number(row.id),
        "ticket.id": str(row.id),
        "ticket.title": row.title,
        "requester.name": requester.name if requester else "",
        "assignee.name": assignee.name if assignee else "",
        "status": reference.statuses[row.status_id].name,
        "priority": reference.priorities[row.priority_id].name,
        "category": reference.categories[row.category_id].name,
    }


def apply_actions(
    session: Session,
    *,
    row: TicketRow,
    actions: Sequence[Action],
    actor: Actor,
    at: datetime,
    event: ForwardedEvent | None = None,
) -> ActionsDone:
    """Do the actions to the ticket in the caller's transaction (`event`: the one the rule acts
    on, for `send_to_webhook`). A DomainError means the rule cannot act (the caller rolls back
    its part)."""
    edit = _edit_of(row, actions)
    routing = None
    if any(isinstance(action, AssignFromPool) for action in actions):
        category_id = edit.category_id if "category_id" in edit.sent else row.category_id
        assert category_id is not None
        pick = pick_assignee(session, category_id=category_id, humans_only=False)
        if pick.pool is None or pick.assignee is None:
            raise InvalidReference(
                f"the assignment pool of category {category_id} has nobody to give the ticket to",
                field="assign_from_pool",
            )
        edit = replace(edit, sent=edit.sent | {"assigned_to"}, assigned_to=pick.assignee.id)
        routing = routing_of(pick.pool)
    escalation = next((a for a in actions if isinstance(a, Escalate)), None)
    handover: Handover | None = None
    if escalation is not None:
        handover = plan_escalation(session, row=row, priority_id=escalation.priority_id)
        edit = replace(
            edit,
            sent=edit.sent | handover.sent,
            assigned_to=handover.assignee_id
            if "assigned_to" in handover.sent
            else edit.assigned_to,
            priority_id=handover.priority_id
            if "priority_id" in handover.sent
            else edit.priority_id,
        )
    applied: AppliedEdit | None = apply_ticket_edit(
        session,
        row=row,
        edit=edit,
        editor=_editor(actor),
        at=at,
        routing=routing,
    )
    if applied is not None:
        row = applied.row
    comments = [a for a in actions if isinstance(a, AddNote | PublicReply)]
    added = (
        _add_comments(session, row=row, comments=comments, actor=actor, at=at) if comments else []
    )
    if escalation is not None and handover is not None:
        note = _add_comments(
            session,
            row=row,
            comments=[
                AddNote(kind="add_note", body=f"Escalated to a human agent: {escalation.reason}")
            ],
            actor=actor,
            at=at,
        )
        added += note
        record_escalation(
            session,
            row=row,
            handover=handover,
            reason=escalation.reason,
            comment_id=note[0].id,
            actor=actor.event_actor(),
            author_id=actor.author_id,
            actor_id=_actor_id(actor),
            actor_trigger_id=actor.trigger_id,
            actor_automation_id=_automation_id(actor),
            at=at,
        )
    announced: list[str] = []
    for action in actions:
        if isinstance(action, SendToWebhook):
            announced += _forward(session, row=row, action=action, actor=actor, at=at, event=event)
    return ActionsDone(row=row, announced=announced, comments=tuple(added))


def _forward(
    session: Session,
    *,
    row: TicketRow,
    action: SendToWebhook,
    actor: Actor,
    at: datetime,
    event: ForwardedEvent | None,
) -> list[str]:
    if event is None:
        raise InvalidInput("no event to send", field="send_to_webhook")
    if not _endpoint_exists(session, action.endpoint_id, enabled=True):
        raise InvalidReference(
            f"no enabled webhook endpoint with id {action.endpoint_id}", field="endpoint_id"
        )
    forwarded = TicketForwarded(
        ticket=row_view_for(session, row, staff=True),
        actor=actor.event_actor(),
        endpoint_id=action.endpoint_id,
        event=event,
    )
    return record_ticket_change(
        session,
        ticket_id=row.id,
        actor_id=_actor_id(actor),
        actor_trigger_id=actor.trigger_id,
        actor_automation_id=_automation_id(actor),
        at=at,
        history=[],
        events=[forwarded],
    )


def _add_comments(
    session: Session,
    *,
    row: TicketRow,
    comments: Sequence[AddNote | PublicReply],
    actor: Actor,
    at: datetime,
) -> list[CommentData]:
    """Write the comments; what was written."""
    reference = reference_cache.reference(session)
    author = reference_cache.user(session, user_id=actor.author_id)
    if author is None:
        raise InvalidReference(f"no user {actor.author_id} to write the comment", field="author")
    values = _template_values(session, row, reference)
    added: list[CommentData] = []
    for action in comments:
        internal = isinstance(action, AddNote)
        body = (
            action.body if isinstance(action, AddNote) else render_template(action.template, values)
        )
        comment_id = ticket_writes.insert_comment(
            session, ticket_id=row.id, author_id=author.id, body=body, internal=internal, at=at
        )
        comment = CommentData(
            id=comment_id,
            ticket_id=row.id,
            author=user_ref(author),
            body=body,
            internal=internal,
            created_at=at,
        )
        added.append(comment)
        record_ticket_change(
            session,
            ticket_id=row.id,
            actor_id=_actor_id(actor),
            actor_trigger_id=actor.trigger_id,
            actor_automation_id=_automation_id(actor),
            at=at,
            history=[HistoryEntry("comment", None, str(comment_id), internal=internal)],
            events=[
                TicketCommented(
                    ticket=row_view_for(session, row, staff=True),
                    actor=actor.event_actor(),
                    comment=comment,
                )
            ],
        )
    return added


def describe_actions(
    session: Session, *, row: TicketRow, actions: Sequence[Action]
) -> list[dict[str, Any]]:
    """What each action would do to the ticket now, as {kind, would, detail}; nothing written."""
    reference = reference_cache.reference(session)
    described: list[dict[str, Any]] = []

    def add(action: Action, would: bool, detail: str) -> None:
        described.append({"kind": action.kind, "would_change": would, "detail": detail})

    values = _template_values(session, row, reference)
    for action in actions:
        if isinstance(action, SetStatus):
            status = reference.statuses.get(action.status_id)
            name = status.name if status else f"#{action.status_id} (gone)"
            add(action, action.status_id != row.status_id, f"set status to {name}")
        elif isinstance(action, SetPriority):
            priority = reference.priorities.get(action.priority_id)
            name = priority.name if priority else f"#{action.priority_id} (gone)"
            add(action, action.priority_id != row.priority_id, f"set priority to {name}")
        elif isinstance(action, SetCategory):
            category = reference.categories.get(action.category_id)
            name = category.name if category else f"#{action.category_id} (gone)"
            add(action, action.category_id != row.category_id, f"set category to {name}")
        elif isinstance(action, SetAssignee):
            person = (
                reference_cache.person(session, user_id=action.assignee_id)
                if action.assignee_id
                else None
            )
            name = person.name if person else "nobody"
            add(action, action.assignee_id != row.assignee_id, f"assign to {name}")
        elif isinstance(action, SetCustomField):
            field = reference.active_custom_fields.get(action.key)
            current = row.custom_values.get(field.id) if field else None
            add(
                action,
                current != action.value,
                f"set {input_name(action.key)} to {action.value!r}",
            )
        elif isinstance(action, AddTags):
            new = [tag for tag in action.tags if tag not in row.tags]
            add(action, bool(new), f"add tags {', '.join(action.tags)}")
        elif isinstance(action, RemoveTags):
            gone = [tag for tag in action.tags if tag in row.tags]
            add(action, bool(gone), f"remove tags {', '.join(action.tags)}")
        elif isinstance(action, AddNote):
            add(action, True, f"add an internal note: {action.body}")
        elif isinstance(action, PublicReply):
            add(action, True, f"reply: {render_template(action.template, values)}")
        elif isinstance(action, SendToWebhook):
            add(action, True, f"send the event to webhook endpoint {action.endpoint_id}")
        elif isinstance(action, Escalate):
            add(action, *escalation_outlook(session, row=row, reference=reference))
        else:
            category = reference.categories.get(row.category_id)
            name = category.name if category else str(row.category_id)
            add(action, row.assignee_id is None, f"assign through the pool of {name}")
    return described
