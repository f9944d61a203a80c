"""Conditions: what a rule asks of a ticket and of the event that changed it.

Each condition is a typed model (a `kind` tells them apart); `Conditions` combines them: every
one of `all`, and at least one of `any` when it has any. Evaluation is plain Python over a
`RuleContext` (the ticket's current row, its requester, the event's changes), so a rule costs no
statement of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy.orm import Session

from shared.custom_field_values import input_name, valid_value
from shared.errors import InvalidInput, InvalidReference
from shared.models import Role
from shared.reference_cache import ReferenceData, UserRecord, reference_cache

RuleText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
TagName = Annotated[
    str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=50)
]
# The ticket's fields a condition may name; custom fields are `custom_fields.<key>`.
TicketField = Annotated[
    str,
    StringConstraints(
        pattern=r"^(status_id|priority_id|category_id|assigned_to|custom_fields\.[a-z][a-z0-9_]{0,35})$"
    ),
    Field(description="status_id, priority_id, category_id, assigned_to or custom_fields.<key>."),
]
# How the fields are named in events' changes.
CHANGE_NAMES = {
    "status_id": "status",
    "priority_id": "priority",
    "category_id": "category",
    "assigned_to": "assignee",
}


class _Condition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldCondition(_Condition):
    """A field of the ticket now: `is` / `is_not` a value (null: no value), or, for numbers
    and dates, `gte` / `lte`."""

    kind: Literal["field"]
    field: TicketField
    operator: Literal["is", "is_not", "gte", "lte"] = "is"
    value: Any = None


class TagCondition(_Condition):
    kind: Literal["tag"]
    operator: Literal["has", "lacks"] = "has"
    tag: TagName


class RequesterRoleCondition(_Condition):
    kind: Literal["requester_role"]
    role: Role


class RequesterDomainCondition(_Condition):
    """The requester's e-mail address is at this domain (case-insensitive)."""

    kind: Literal["requester_email_domain"]
    domain: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True,
            to_lower=True,
            pattern=r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$",
            max_length=253,
        ),
    ]


class TextContainsCondition(_Condition):
    """A text holds `text` (case-insensitive): the title, the description, the event's
    comment, or any of them."""

    kind: Literal["text_contains"]
    text: RuleText
    within: Literal["title", "description", "comment", "any"] = "any"


class ChangedCondition(_Condition):
    """The event changed the field (to and from: the value before and after, optional)."""

    kind: Literal["changed"]
    field: TicketField | Literal["tags", "title", "description"]
    from_: Any = Field(default=None, alias="from")
    to: Any = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @property
    def has_from(self) -> bool:
        return "from_" in self.model_fields_set

    @property
    def has_to(self) -> bool:
        return "to" in self.model_fields_set


class BusinessHoursCondition(_Condition):
    """The event happened inside (or outside) the business hours of the ticket's calendar
    (its category's, else its priority's; none: always inside)."""

    kind: Literal["business_hours"]
    inside: bool = True


Condition = Annotated[
    FieldCondition
    | TagCondition
    | RequesterRoleCondition
    | RequesterDomainCondition
    | TextContainsCondition
    | ChangedCondition
    | BusinessHoursCondition,
    Field(discriminator="kind"),
]


class Conditions(BaseModel):
    """Every condition of `all`, and at least one of `any` (when `any` has some). Empty:
    always."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    all: list[Condition] = Field(default_factory=list, max_length=50)
    any: list[Condition] = Field(default_factory=list, max_length=50)

    def each(self) -> list[tuple[str, Condition]]:
        """Every condition with its place in the input (`conditions.all.0`)."""
        return [
            *((f"conditions.all.{index}", c) for index, c in enumerate(self.all)),
            *((f"conditions.any.{index}", c) for index, c in enumerate(self.any)),
        ]


class RuleTicket(Protocol):
    """What conditions read of a ticket: a `TicketRow`, or the leaner `TicketFacts` the worker
    reads for a batch of events."""

    @property
    def id(self) -> int: ...
    @property
    def title(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def requester_id(self) -> int: ...
    @property
    def assignee_id(self) -> int | None: ...
    @property
    def category_id(self) -> int: ...
    @property
    def priority_id(self) -> int: ...
    @property
    def status_id(self) -> int: ...
    @property
    def tags(self) -> list[str]: ...
    @property
    def custom_values(self) -> dict[int, Any]: ...


@dataclass(frozen=True)
class RuleContext:
    """What conditions look at: the ticket now, who asked, what the event changed."""

    row: RuleTicket
    reference: ReferenceData
    requester: UserRecord | None
    changes: Mapping[str, Mapping[str, Any]]  # {field: {"from": …, "to": …}}, as events say
    comment_body: str | None
    at: datetime

    @cached_property
    def folded_texts(self) -> dict[str, str]:
        """The texts `text_contains` looks in, case-folded once for every rule."""
        return {
            "title": self.row.title.casefold(),
            "description": self.row.description.casefold(),
            "comment": (self.comment_body or "").casefold(),
        }


def _value_of(field: str, context: RuleContext) -> Any:
    row = context.row
    if field == "status_id":
        return row.status_id
    if field == "priority_id":
        return row.priority_id
    if field == "category_id":
        return row.category_id
    if field == "assigned_to":
        return row.assignee_id
    key = field.removeprefix("custom_fields.")
    record = context.reference.active_custom_fields.get(key)
    return row.custom_values.get(record.id) if record is not None else None


def _compare(operator: str, current: Any, wanted: Any) -> bool:
    if operator == "is":
        return bool(current == wanted)
    if operator == "is_not":
        return bool(current != wanted)
    if current is None or wanted is None:
        return False
    try:
        left, right = (float(current), float(wanted)) if _numeric(current) else (current, wanted)
        return bool(left >= right) if operator == "gte" else bool(left <= right)
    except (TypeError, ValueError):
        return False


def _numeric(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return not (isinstance(value, str) and "-" in value[1:])  # a date, not a number


def _change_value(value: Any) -> Any:
    """A change's side as a condition names it: references by id."""
    return value.get("id") if isinstance(value, dict) else value


def _changed(condition: ChangedCondition, context: RuleContext) -> bool:
    name = CHANGE_NAMES.get(condition.field, condition.field)
    if name.startswith("custom_fields."):
        name = input_name(name.removeprefix("custom_fields."))
    change = context.changes.get(name)
    if change is None:
        return False
    if condition.has_from and _change_value(change.get("from")) != condition.from_:
        return False
    return not (condition.has_to and _change_value(change.get("to")) != condition.to)


def _inside_business_hours(context: RuleContext) -> bool:
    calendar = context.reference.calendar_for(
        category_id=context.row.category_id, priority_id=context.row.priority_id
    )
    if calendar is None:
        return True
    opens, _closes = next(calendar.open_intervals(context.at))
    return opens <= context.at


def holds(condition: Condition, context: RuleContext) -> bool:
    """Whether one condition holds."""
    if isinstance(condition, FieldCondition):
        return _compare(condition.operator, _value_of(condition.field, context), condition.value)
    if isinstance(condition, TagCondition):
        tagged = condition.tag in context.row.tags
        return tagged if condition.operator == "has" else not tagged
    if isinstance(condition, RequesterRoleCondition):
        return context.requester is not None and context.requester.role is condition.role
    if isinstance(condition, RequesterDomainCondition):
        email = context.requester.email if context.requester is not None else ""
        return email.rpartition("@")[2].lower() == condition.domain
    if isinstance(condition, TextContainsCondition):
        texts = context.folded_texts
        where = list(texts.values()) if condition.within == "any" else [texts[condition.within]]
        wanted = condition.text.casefold()
        return any(wanted in text for text in where)
    if isinstance(condition, ChangedCondition):
        return _changed(condition, context)
    return _inside_business_hours(context) is condition.inside


def matches(conditions: Conditions, context: RuleContext) -> bool:
    """Every `all` condition holds and, when there are `any` conditions, one of them does."""
    if not all(holds(condition, context) for condition in conditions.all):
        return False
    return not conditions.any or any(holds(condition, context) for condition in conditions.any)


Test = Callable[[RuleContext], bool]


def _test_of(condition: Condition) -> Test:
    """One condition as a function: the common ones without the dispatch of `holds`."""
    if isinstance(condition, TagCondition):
        tag = condition.tag
        if condition.operator == "has":
            return lambda context: tag in context.row.tags
        return lambda context: tag not in context.row.tags
    if isinstance(condition, TextContainsCondition):
        text, within = condition.text.casefold(), condition.within
        if within == "any":
            return lambda context: any(text in each for each in context.folded_texts.values())
        return lambda context: text in context.folded_texts[within]
    if isinstance(condition, FieldCondition) and condition.operator in ("is", "is_not"):
        column = {
            "status_id": "status_id",
            "priority_id": "priority_id",
            "category_id": "category_id",
            "assigned_to": "assignee_id",
        }.get(condition.field)
        if column is not None:
            wanted = condition.value
            if condition.operator == "is":
                return lambda context: getattr(context.row, column) == wanted
            return lambda context: getattr(context.row, column) != wanted
    return lambda context: holds(condition, context)


def compiled(conditions: Conditions) -> Test:
    """`matches` for these conditions, built once (a rule evaluated on every event)."""
    every = tuple(_test_of(condition) for condition in conditions.all)
    some = tuple(_test_of(condition) for condition in conditions.any)

    def test(context: RuleContext) -> bool:
        for each in every:
            if not each(context):
                return False
        if not some:
            return True
        return any(each(context) for each in some)

    return test


def _check_value(
    session: Session, reference: ReferenceData, field: str, value: Any, *, where: str
) -> None:
    if value is None or field in ("tags", "title", "description"):
        return
    by_field: dict[str, Mapping[int, Any]] = {
        "status_id": reference.statuses,
        "priority_id": reference.priorities,
        "category_id": reference.categories,
    }
    known = by_field.get(field)
    if known is not None:
        if isinstance(value, bool) or not isinstance(value, int) or value not in known:
            raise InvalidReference(f"no {field.removesuffix('_id')} with id {value!r}", field=where)
        return
    if field == "assigned_to":
        person = (
            reference_cache.person(session, user_id=value)
            if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**31
            else None
        )
        if person is None or not person.role.is_staff:
            raise InvalidReference(f"no agent or admin with id {value!r}", field=where)
        return
    key = field.removeprefix("custom_fields.")
    record = reference.active_custom_fields.get(key)
    if record is None:
        raise InvalidReference(
            f"no custom field {key!r}", field=where.rpartition(".")[0] + ".field"
        )
    try:
        valid_value(record, value)
    except InvalidInput as error:
        raise InvalidInput(error.detail, field=where) from None


def check_conditions(session: Session, conditions: Conditions, *, prefix: str = "") -> None:
    """Refuse (422 naming `conditions.all.<i>.<field>`) a condition naming nothing that exists."""
    reference = reference_cache.reference(session)
    for where, condition in conditions.each():
        where = prefix + where
        if isinstance(condition, FieldCondition):
            if condition.field.startswith("custom_fields.") or condition.value is not None:
                _check_value(
                    session, reference, condition.field, condition.value, where=f"{where}.value"
                )
        elif isinstance(condition, ChangedCondition):
            for side, value in (("from", condition.from_), ("to", condition.to)):
                _check_value(session, reference, condition.field, value, where=f"{where}.{side}")


IndexKey = tuple[str, Any]
_COLUMNS = {
    "status_id": "status_id",
    "priority_id": "priority_id",
    "category_id": "category_id",
    "assigned_to": "assignee_id",
}


def index_key(conditions: Conditions) -> IndexKey | None:
    """A key every ticket these conditions match has among `row_keys` (a tag it must have, a
    column's value), or None: rules are looked up by it instead of all being evaluated."""
    for condition in conditions.all:
        if isinstance(condition, TagCondition) and condition.operator == "has":
            return ("tag", condition.tag)
        if (
            isinstance(condition, FieldCondition)
            and condition.operator == "is"
            and condition.field in _COLUMNS
        ):
            return (_COLUMNS[condition.field], condition.value)
    return None


def row_keys(row: RuleTicket) -> list[IndexKey]:
    return [
        ("status_id", row.status_id),
        ("priority_id", row.priority_id),
        ("category_id", row.category_id),
        ("assignee_id", row.assignee_id),
        *(("tag", tag) for tag in row.tags),
    ]
