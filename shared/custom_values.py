"""Custom values as stored and as shown: one JSON text per value, typed columns for filters.

A ticket's values travel with its row as one text (`shared.models.ticket.custom_values_of`),
decoded here with the field definitions of the reference cache.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

import orjson

from shared.models import CustomFieldType
from shared.models.ticket import CUSTOM_VALUE_SEPARATOR
from shared.reference_cache import CustomFieldRecord, ReferenceData

# Equality filters compare this column; longer texts (long text) are not filterable.
TEXT_VALUE_LENGTH = 500


def stored_columns(field: CustomFieldRecord, value: Any) -> dict[str, Any]:
    """The row columns of a valid value (as the validation returns it)."""
    columns: dict[str, Any] = {
        "value": orjson.dumps(value).decode(),
        "text_value": None,
        "number_value": None,
        "date_value": None,
    }
    kind = field.field_type
    if kind in (CustomFieldType.TEXT, CustomFieldType.DROPDOWN):
        columns["text_value"] = value if len(value) <= TEXT_VALUE_LENGTH else None
    elif kind is CustomFieldType.CHECKBOX:
        columns["text_value"] = "true" if value else "false"
    elif kind is CustomFieldType.INTEGER:
        columns["number_value"] = float(value)
    elif kind is CustomFieldType.DECIMAL:
        columns["number_value"] = float(Decimal(value))
    elif kind is CustomFieldType.DATE:
        columns["date_value"] = date.fromisoformat(value)
    return columns


def parse_values(text: str | None) -> dict[int, Any]:
    """The values of the aggregated text, by field id."""
    if not text:
        return {}
    values: dict[int, Any] = {}
    for entry in text.split(CUSTOM_VALUE_SEPARATOR):
        field_id, _, value = entry.partition(":")
        values[int(field_id)] = orjson.loads(value)
    return values


def shown_values(
    values: Mapping[int, Any], *, reference: ReferenceData, staff: bool
) -> dict[str, Any]:
    """The values a viewer sees, by key: the active fields', and for customers only those
    visible to customers."""
    shown: dict[str, Any] = {}
    for field_id, value in values.items():
        field = reference.custom_fields.get(field_id)
        if field is None or not field.active or not (staff or field.customer_visible):
            continue
        shown[field.key] = value
    return dict(sorted(shown.items()))
