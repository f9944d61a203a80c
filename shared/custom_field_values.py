"""The rules for custom values on tickets: who may set which field, and what a valid value is.

Used by the API and by rules' actions (`actor` None: the system, with staff's rights)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from shared.errors import Forbidden, InvalidInput
from shared.models import CustomFieldType, User
from shared.reference_cache import CustomFieldRecord, ReferenceData
from shared.text_rules import control_character, control_character_message

TEXT_LENGTH = 500
LONG_TEXT_LENGTH = 20_000
# Numbers are filtered through a double on both engines: integers within its exact range.
NUMBER_LIMIT = 10**15
DECIMAL_PLACES = 6
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$", re.ASCII)


@dataclass(frozen=True)
class ValueChange:
    """A custom value set (`new` None: cleared) on a ticket."""

    field: CustomFieldRecord
    old: Any
    new: Any


def input_name(key: str) -> str:
    return f"custom_fields.{key}"


def _bad(field: CustomFieldRecord, message: str) -> InvalidInput:
    return InvalidInput(f"{field.label}: {message}", field=input_name(field.key))


def _text(field: CustomFieldRecord, raw: Any, *, limit: int, long_text: bool) -> str:
    if not isinstance(raw, str):
        raise _bad(field, "must be a string")
    value = raw.strip()
    if not value or len(value) > limit:
        raise _bad(field, f"must be 1-{limit} characters")
    if (char := control_character(value, long_text=long_text)) is not None:
        raise _bad(field, control_character_message(char, long_text=long_text))
    return value


def _integer(field: CustomFieldRecord, raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise _bad(field, "must be a whole number")
    if abs(raw) >= NUMBER_LIMIT:
        raise _bad(field, f"must be less than {NUMBER_LIMIT:,} in size")
    return raw


def _decimal(field: CustomFieldRecord, raw: Any) -> str:
    """A decimal as its exact text ("12.5"): a number or a numeric string."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str) or len(str(raw)) > 40:
        raise _bad(field, "must be a number")
    try:
        number = Decimal(str(raw).strip())
    except InvalidOperation:
        raise _bad(field, "must be a number") from None
    if not number.is_finite() or abs(number) >= NUMBER_LIMIT:
        raise _bad(field, f"must be a finite number less than {NUMBER_LIMIT:,} in size")
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -DECIMAL_PLACES:
        raise _bad(field, f"at most {DECIMAL_PLACES} decimal places")
    return format(number.normalize(), "f") if number else "0"


def _date(field: CustomFieldRecord, raw: Any) -> str:
    if not isinstance(raw, str) or not _DATE.match(raw):
        raise _bad(field, "must be a date, YYYY-MM-DD")
    try:
        return date.fromisoformat(raw).isoformat()
    except ValueError:
        raise _bad(field, "must be a date, YYYY-MM-DD") from None


def _choice(field: CustomFieldRecord, raw: Any) -> str:
    if not isinstance(raw, str) or raw not in field.options:
        raise _bad(field, f"must be one of: {', '.join(field.options)}")
    return raw


def _choices(field: CustomFieldRecord, raw: Any) -> list[str] | None:
    if not isinstance(raw, list) or len(raw) > len(field.options):
        raise _bad(field, "must be a list of its options")
    chosen = {_choice(field, item) for item in raw}
    # In the options' order, so the same choice is the same value however it was sent.
    return [option for option in field.options if option in chosen] or None


def valid_value(field: CustomFieldRecord, raw: Any) -> Any:
    """The value to store (None: no value) or InvalidInput naming `custom_fields.<key>`."""
    if raw is None:
        return None
    kind = field.field_type
    if kind is CustomFieldType.TEXT:
        return _text(field, raw, limit=TEXT_LENGTH, long_text=False)
    if kind is CustomFieldType.LONG_TEXT:
        return _text(field, raw, limit=LONG_TEXT_LENGTH, long_text=True)
    if kind is CustomFieldType.INTEGER:
        return _integer(field, raw)
    if kind is CustomFieldType.DECIMAL:
        return _decimal(field, raw)
    if kind is CustomFieldType.DATE:
        return _date(field, raw)
    if kind is CustomFieldType.CHECKBOX:
        if not isinstance(raw, bool):
            raise _bad(field, "must be true or false")
        return raw
    if kind is CustomFieldType.DROPDOWN:
        return _choice(field, raw)
    return _choices(field, raw)


def field_for(reference: ReferenceData, *, key: str, viewer: User | None) -> CustomFieldRecord:
    """The active field `key` as `viewer` may know it (customers: the customer-visible ones;
    None: the system, which knows them all)."""
    field = reference.active_custom_fields.get(key)
    staff = viewer is None or viewer.role.is_staff
    if field is None or not (staff or field.customer_visible):
        raise InvalidInput(f"no custom field {key!r}", field=input_name(key))
    return field


def value_changes(
    reference: ReferenceData,
    *,
    actor: User | None,
    category_id: int,
    current: Mapping[int, Any],
    sent: Mapping[str, Any],
) -> list[ValueChange]:
    """The values `sent` ({key: value}, null clears) that differ from the ticket's `current`
    (by field id), checked: known fields of the ticket's category, editable by the actor."""
    changes: list[ValueChange] = []
    for key, raw in sent.items():
        field = field_for(reference, key=key, viewer=actor)
        if not field.applies_to(category_id):
            raise InvalidInput(
                f"{field.label} does not apply to tickets of this category",
                field=input_name(key),
            )
        value = valid_value(field, raw)
        old = current.get(field.id)
        if value == old:
            continue  # a no-op needs no permission
        if actor is not None and not actor.role.is_staff and not field.customer_editable:
            raise Forbidden(f"customers cannot change {field.label}", field=input_name(key))
        changes.append(ValueChange(field, old, value))
    return changes


def ensure_required(
    reference: ReferenceData,
    *,
    category_id: int,
    values: Mapping[int, Any],
    to_resolve: bool,
    actor: User | None = None,
) -> None:
    """Refuse (422, naming the first missing field) a ticket without a required value: at
    creation the fields required then that `actor` may set, or to resolve it."""
    for field in reference.active_custom_fields.values():
        required = field.required_to_resolve if to_resolve else field.required_on_create
        if not required or not field.applies_to(category_id) or field.id in values:
            continue
        if actor is not None and not (actor.role.is_staff or field.customer_editable):
            continue
        when = "to resolve the ticket" if to_resolve else "to create a ticket in this category"
        raise InvalidInput(f"{field.label} is required {when}", field=input_name(field.key))


FILTER_PREFIX = "cf_"


def filter_parameters(query: Mapping[str, str]) -> dict[str, str]:
    """The `cf_<key>` parameters of a query string."""
    return {name: value for name, value in query.items() if name.startswith(FILTER_PREFIX)}


_EQUAL_TYPES = frozenset({CustomFieldType.TEXT, CustomFieldType.DROPDOWN, CustomFieldType.CHECKBOX})
_RANGE_TYPES = frozenset({CustomFieldType.INTEGER, CustomFieldType.DECIMAL, CustomFieldType.DATE})
_OPERATORS = {"": "eq", "__gte": "gte", "__lte": "lte"}


@dataclass(frozen=True)
class ValueFilter:
    """`cf_<key>=v` (eq), `cf_<key>__gte=v`, `cf_<key>__lte=v` on a ticket list."""

    field_id: int
    column: str  # of ticket_custom_values
    operator: str  # eq, gte, lte
    value: Any


def _filter_value(field: CustomFieldRecord, raw: str, *, name: str) -> tuple[str, Any]:
    kind = field.field_type
    try:
        if kind is CustomFieldType.CHECKBOX:
            if raw not in ("true", "false"):
                raise ValueError("true or false")
            return "text_value", raw
        if kind in (CustomFieldType.TEXT, CustomFieldType.DROPDOWN):
            if not raw or len(raw) > TEXT_LENGTH:
                raise ValueError(f"1-{TEXT_LENGTH} characters")
            return "text_value", raw
        if kind is CustomFieldType.INTEGER:
            return "number_value", float(_integer(field, int(raw)))
        if kind is CustomFieldType.DECIMAL:
            return "number_value", float(Decimal(_decimal(field, raw)))
        return "date_value", date.fromisoformat(_date(field, raw))
    except (ValueError, InvalidInput) as error:
        raise InvalidInput(f"{name}: not a valid {kind} value ({error})", field=name) from None


def value_filters(
    reference: ReferenceData, *, viewer: User, params: Mapping[str, str]
) -> list[ValueFilter]:
    """The custom value filters among a list's query parameters, checked."""
    filters: list[ValueFilter] = []
    for name, raw in params.items():
        if not name.startswith(FILTER_PREFIX):
            raise InvalidInput(f"a custom field filter is named {FILTER_PREFIX}<key>", field=name)
        key, suffix = name.removeprefix(FILTER_PREFIX), ""
        for ending in ("__gte", "__lte"):
            if key.endswith(ending):
                key, suffix = key.removesuffix(ending), ending
        field = reference.active_custom_fields.get(key)
        if field is None or not (viewer.role.is_staff or field.customer_visible):
            raise InvalidInput(f"no custom field {key!r} to filter on", field=name)
        allowed = _RANGE_TYPES if suffix else _EQUAL_TYPES
        if field.field_type not in allowed:
            how = "a range" if suffix else "equality"
            raise InvalidInput(
                f"a {field.field_type} field cannot be filtered by {how}", field=name
            )
        column, value = _filter_value(field, raw, name=name)
        filters.append(ValueFilter(field.id, column, _OPERATORS[suffix], value))
    return filters
