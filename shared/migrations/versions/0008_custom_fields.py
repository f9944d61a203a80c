"""custom fields: the fields admins define (custom_fields) and their values on tickets
(ticket_custom_values, the value as JSON beside typed columns indexed for filters), and a
custom_fields column in the ticket search index (their customer-visible text values)

FTS5 tables take no new column: SQLite's index is copied into a new table (no ticket holds a
custom value yet, so the new column starts empty everywhere).

Revision ID: 5c3f9a1d2e7b
Revises: 1bd214fe4ccf
Create Date: 2026-12-07 15:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5c3f9a1d2e7b"
down_revision: str | None = "1bd214fe4ccf"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "custom_fields",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=36), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("field_type", sa.String(length=16), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("category_ids", sa.JSON(), nullable=False),
        sa.Column("required_on_create", sa.Boolean(), nullable=False),
        sa.Column("required_to_resolve", sa.Boolean(), nullable=False),
        sa.Column("customer_visible", sa.Boolean(), nullable=False),
        sa.Column("customer_editable", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custom_fields")),
        sa.UniqueConstraint("key", name=op.f("uq_custom_fields_key")),
    )
    op.create_table(
        "ticket_custom_values",
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("field_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("text_value", sa.String(length=500), nullable=True),
        sa.Column("number_value", sa.Float(), nullable=True),
        sa.Column("date_value", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_custom_values_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["field_id"],
            ["custom_fields.id"],
            name=op.f("fk_ticket_custom_values_field_id_custom_fields"),
        ),
        sa.PrimaryKeyConstraint("ticket_id", "field_id", name=op.f("pk_ticket_custom_values")),
    )
    for name, column in (
        ("text", "text_value"),
        ("number", "number_value"),
        ("date", "date_value"),
    ):
        op.create_index(
            f"ix_ticket_custom_values_field_{name}",
            "ticket_custom_values",
            ["field_id", column],
            unique=False,
        )
    _add_search_column()


_FTS5_TOKENIZE = "tokenize = 'porter unicode61 remove_diacritics 2'"


def _copy_sqlite_index(columns: list[str], *, copied: list[str]) -> None:
    """Make ticket_search anew with `columns`, keeping the `copied` ones' text."""
    op.execute("ALTER TABLE ticket_search RENAME TO ticket_search_previous")
    op.execute(
        f"CREATE VIRTUAL TABLE ticket_search USING fts5({', '.join(columns)}, {_FTS5_TOKENIZE})"
    )
    values = [name if name in copied else "''" for name in columns]
    op.execute(
        f"INSERT INTO ticket_search (rowid, {', '.join(columns)}) "
        f"SELECT rowid, {', '.join(values)} FROM ticket_search_previous"
    )
    op.execute("DROP TABLE ticket_search_previous")


_INDEX_COLUMNS = ["title", "description", "comments", "tags"]


def _add_search_column() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _copy_sqlite_index([*_INDEX_COLUMNS, "custom_fields"], copied=_INDEX_COLUMNS)
    else:
        op.execute("ALTER TABLE ticket_search ADD COLUMN custom_fields text NOT NULL DEFAULT ''")


def _drop_search_column() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _copy_sqlite_index(_INDEX_COLUMNS, copied=_INDEX_COLUMNS)
    else:
        op.execute("ALTER TABLE ticket_search DROP COLUMN custom_fields")


def downgrade() -> None:
    _drop_search_column()
    for name in ("text", "number", "date"):
        op.drop_index(f"ix_ticket_custom_values_field_{name}", table_name="ticket_custom_values")
    op.drop_table("ticket_custom_values")
    op.drop_table("custom_fields")
