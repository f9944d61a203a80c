"""AI agents and routing: users.is_bot, assignment pools, escalations

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
    op.create_table(
        "assignment_pools",
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column(
            "strategy",
            sa.Enum(
                "round_robin",
                "least_open",
                name="assignmentstrategy",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("last_assigned_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["categories.id"],
            name=op.f("fk_assignment_pools_category_id_categories"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["last_assigned_user_id"],
            ["users.id"],
            name=op.f("fk_assignment_pools_last_assigned_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("category_id", name=op.f("pk_assignment_pools")),
    )
    op.create_table(
        "assignment_pool_members",
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["assignment_pools.category_id"],
            name=op.f("fk_assignment_pool_members_category_id_assignment_pools"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_assignment_pool_members_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("category_id", "user_id", name=op.f("pk_assignment_pool_members")),
    )
    op.create_index(
        op.f("ix_assignment_pool_members_user_id"),
        "assignment_pool_members",
        ["user_id"],
        unique=False,
    )
    op.create_table(
        "ticket_escalations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=False),
        sa.Column("from_user_id", sa.Integer(), nullable=True),
        sa.Column("to_user_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_ticket_escalations_actor_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["from_user_id"], ["users.id"], name=op.f("fk_ticket_escalations_from_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_escalations_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["to_user_id"], ["users.id"], name=op.f("fk_ticket_escalations_to_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_escalations")),
    )
    op.create_index(
        op.f("ix_ticket_escalations_escalated_at"),
        "ticket_escalations",
        ["escalated_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_ticket_escalations_ticket_id"), "ticket_escalations", ["ticket_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_ticket_escalations_ticket_id"), table_name="ticket_escalations")
    op.drop_index(op.f("ix_ticket_escalations_escalated_at"), table_name="ticket_escalations")
    op.drop_table("ticket_escalations")
    op.drop_index(op.f("ix_assignment_pool_members_user_id"), table_name="assignment_pool_members")
    op.drop_table("assignment_pool_members")
    op.drop_table("assignment_pools")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("is_bot")
