"""read paths: ticket indexes for the default list order within status + priority, and for the
dashboard's nearest due times per status

Revision ID: 13433177c0bb
Revises: 5c2d8e1f7a93
Create Date: 2026-12-02 06:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "13433177c0bb"
down_revision: str | None = "5c2d8e1f7a93"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # (status_id, priority_id, created_at) serves everything (status_id, priority_id) did.
    op.drop_index("ix_tickets_status_priority", table_name="tickets")
    op.create_index(
        "ix_tickets_status_priority_created",
        "tickets",
        ["status_id", "priority_id", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_tickets_status_resolution_due",
        "tickets",
        ["status_id", "resolution_due_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_tickets_status_resolution_due", table_name="tickets")
    op.drop_index("ix_tickets_status_priority_created", table_name="tickets")
    op.create_index(
        "ix_tickets_status_priority", "tickets", ["status_id", "priority_id"], unique=False
    )
