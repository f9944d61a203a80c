"""AI agents and routing: users.is_bot

Revision ID: 4b0751a2e9d1
Revises: c9595cb6eef7
Create Date: 2026-11-27 13:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "4b0751a2e9d1"
down_revision: str | None = "c9595cb6eef7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("is_bot", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("is_bot")
