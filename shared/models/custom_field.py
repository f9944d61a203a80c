"""Custom fields: typed fields admins define, and their values on tickets."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    Enum,
    Float,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from shared.clock import utcnow
from shared.models.base import Base


class CustomFieldType(StrEnum):
    TEXT = "text"
    LONG_TEXT = "long_text"
    INTEGER = "integer"
    DECIMAL = "decimal"
    DATE = "date"
    CHECKBOX = "checkbox"
    DROPDOWN = "dropdown"
    MULTI_SELECT = "multi_select"


class CustomField(Base):
    """A field admins add to tickets. The key is its name in requests and never changes."""

    __tablename__ = "custom_fields"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(36), unique=True)
    label: Mapped[str] = mapped_column(String(100))
    field_type: Mapped[CustomFieldType] = mapped_column(
        Enum(
            CustomFieldType,
            native_enum=False,
            length=16,
            values_callable=lambda e: [m.value for m in e],
        )
    )
    # The choices of a dropdown or multi-select, in display order.
    options: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The categories whose tickets have the field; empty: every category.
    category_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    required_on_create: Mapped[bool] = mapped_column(Boolean, default=False)
    required_to_resolve: Mapped[bool] = mapped_column(Boolean, default=False)
    customer_visible: Mapped[bool] = mapped_column(Boolean, default=False)
    customer_editable: Mapped[bool] = mapped_column(Boolean, default=False)
    # An archived field keeps its values but is neither shown nor set.
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# One row per ticket and field with a value. `value` is the value as JSON, exact; the typed
# columns beside it hold the same value for filtering through an index on either engine:
# `text_value` for text, dropdown and checkbox ("true"/"false"), `number_value` for integers and
# decimals, `date_value` for dates.
ticket_custom_values = Table(
    "ticket_custom_values",
    Base.metadata,
    Column("ticket_id", ForeignKey("tickets.id", ondelete="CASCADE"), primary_key=True),
    Column("field_id", ForeignKey("custom_fields.id"), primary_key=True),
    Column("value", Text, nullable=False),
    Column("text_value", String(500)),
    Column("number_value", Float),
    Column("date_value", Date),
    Index("ix_ticket_custom_values_field_text", "field_id", "text_value"),
    Index("ix_ticket_custom_values_field_number", "field_id", "number_value"),
    Index("ix_ticket_custom_values_field_date", "field_id", "date_value"),
)
