"""followers and CCs: staff following a ticket (ticket_followers) and customers copied on it
(ticket_ccs), each unique per ticket and user, with who added them and when

Revision ID: a7f1c0de0901
Revises: 5c3f9a1d2e7b
Create Date: 2026-12-07 18:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a7f1c0de0901"
down_revision: str | None = "5c3f9a1d2e7b"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("ticket_followers", "ticket_ccs")


def upgrade() -> None:
    for name in _TABLES:
        op.create_table(
            name,
            sa.Column("ticket_id", sa.Integer(), nullable=False),
            sa.Column("user_id", sa.Integer(), nullable=False),
            sa.Column("added_by_id", sa.Integer(), nullable=True),
            sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
            sa.ForeignKeyConstraint(
                ["ticket_id"],
                ["tickets.id"],
                name=op.f(f"fk_{name}_ticket_id_tickets"),
                ondelete="CASCADE",
            ),
            sa.ForeignKeyConstraint(
                ["user_id"], ["users.id"], name=op.f(f"fk_{name}_user_id_users")
            ),
            sa.ForeignKeyConstraint(
                ["added_by_id"], ["users.id"], name=op.f(f"fk_{name}_added_by_id_users")
            ),
            sa.PrimaryKeyConstraint("ticket_id", "user_id", name=op.f(f"pk_{name}")),
        )
        op.create_index(f"ix_{name}_user_id", name, ["user_id"])


def downgrade() -> None:
    for name in reversed(_TABLES):
        op.drop_index(f"ix_{name}_user_id", table_name=name)
        op.drop_table(name)
