"""ticket links: related, duplicate of, parent of and merged into (ticket_links), one merge
per ticket and one parent per ticket held by partial unique indexes

Revision ID: b8e2d1f00a10
Revises: a7f1c0de0901
Create Date: 2026-12-07 18:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b8e2d1f00a10"
down_revision: str | None = "a7f1c0de0901"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ticket_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("from_ticket_id", sa.Integer(), nullable=False),
        sa.Column("to_ticket_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "from_ticket_id <> to_ticket_id", name=op.f("ck_ticket_links_not_to_itself")
        ),
        sa.ForeignKeyConstraint(
            ["from_ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_links_from_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["to_ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_links_to_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_ticket_links_created_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_links")),
        sa.UniqueConstraint(
            "from_ticket_id", "to_ticket_id", "kind", name=op.f("uq_ticket_links_from_ticket_id")
        ),
    )
    op.create_index(
        op.f("ix_ticket_links_from_ticket_id"), "ticket_links", ["from_ticket_id"], unique=False
    )
    op.create_index(
        op.f("ix_ticket_links_to_ticket_id"), "ticket_links", ["to_ticket_id"], unique=False
    )
    op.create_index(
        "ix_ticket_links_one_merge",
        "ticket_links",
        ["from_ticket_id"],
        unique=True,
        sqlite_where=sa.text("kind = 'merged_into'"),
        postgresql_where=sa.text("kind = 'merged_into'"),
    )
    op.create_index(
        "ix_ticket_links_one_parent",
        "ticket_links",
        ["to_ticket_id"],
        unique=True,
        sqlite_where=sa.text("kind = 'parent_of'"),
        postgresql_where=sa.text("kind = 'parent_of'"),
    )


def downgrade() -> None:
    op.drop_index("ix_ticket_links_one_parent", table_name="ticket_links")
    op.drop_index("ix_ticket_links_one_merge", table_name="ticket_links")
    op.drop_index(op.f("ix_ticket_links_to_ticket_id"), table_name="ticket_links")
    op.drop_index(op.f("ix_ticket_links_from_ticket_id"), table_name="ticket_links")
    op.drop_table("ticket_links")
