"""The custom value rules, shared with the worker's rules: see `shared.custom_field_values`."""

from shared.custom_field_values import (
    FILTER_PREFIX,
    ValueChange,
    ValueFilter,
    ensure_required,
    field_for,
    filter_parameters,
    input_name,
    valid_value,
    value_changes,
    value_filters,
)

__all__ = [
    "FILTER_PREFIX",
    "ValueChange",
    "ValueFilter",
    "ensure_required",
    "field_for",
    "filter_parameters",
    "input_name",
    "valid_value",
    "value_changes",
    "value_filters",
]
