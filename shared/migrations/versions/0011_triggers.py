"""triggers: rules the worker runs on ticket events (triggers), the failures it recorded
(trigger_failures), and the trigger that made a change in the audit trail
(ticket_history.actor_trigger_id)

Revision ID: c9d3e2f10b11
Revises: b8e2d1f00a10
Create Date: 2026-12-07 18:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c9d3e2f10b11"
down_revision: str | None = "b8e2d1f00a10"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "triggers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_triggers_created_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_triggers")),
        sa.UniqueConstraint("name", name=op.f("uq_triggers_name")),
    )
    op.create_index(op.f("ix_triggers_position"), "triggers", ["position"])
    op.create_table(
        "trigger_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trigger_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("field", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["trigger_id"],
            ["triggers.id"],
            name=op.f("fk_trigger_failures_trigger_id_triggers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trigger_failures")),
    )
    op.create_index(op.f("ix_trigger_failures_trigger_id"), "trigger_failures", ["trigger_id"])
    with op.batch_alter_table("ticket_history") as batch:
        batch.add_column(sa.Column("actor_trigger_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_ticket_history_actor_trigger_id_triggers"),
            "triggers",
            ["actor_trigger_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("ticket_history") as batch:
        batch.drop_constraint(
            op.f("fk_ticket_history_actor_trigger_id_triggers"), type_="foreignkey"
        )
        batch.drop_column("actor_trigger_id")
    op.drop_index(op.f("ix_trigger_failures_trigger_id"), table_name="trigger_failures")
    op.drop_table("trigger_failures")
    op.drop_index(op.f("ix_triggers_position"), table_name="triggers")
    op.drop_table("triggers")
