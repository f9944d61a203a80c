"""automations: time-based rules run by a beat scan (automations), the marks of what each did
to which ticket for which occurrence (automation_firings), their failures
(automation_failures), the automation that made a change in the audit trail
(ticket_history.actor_automation_id) and when a ticket entered its status
(tickets.status_changed_at, backfilled from the history, else the creation time)

Revision ID: f2a6b5c40e14
Revises: e1f5a4b30d13
Create Date: 2026-12-07 23:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f2a6b5c40e14"
down_revision: str | None = "e1f5a4b30d13"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "automations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_automations_created_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automations")),
        sa.UniqueConstraint("name", name=op.f("uq_automations_name")),
    )
    op.create_index(op.f("ix_automations_position"), "automations", ["position"])
    op.create_table(
        "automation_firings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("automation_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("condition_key", sa.String(length=200), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["automation_id"],
            ["automations.id"],
            name=op.f("fk_automation_firings_automation_id_automations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_automation_firings_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_firings")),
        sa.UniqueConstraint(
            "automation_id",
            "ticket_id",
            "condition_key",
            name=op.f("uq_automation_firings_automation_id"),
        ),
    )
    op.create_index(op.f("ix_automation_firings_ticket_id"), "automation_firings", ["ticket_id"])
    op.create_table(
        "automation_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("automation_id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("condition_key", sa.String(length=200), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("field", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["automation_id"],
            ["automations.id"],
            name=op.f("fk_automation_failures_automation_id_automations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_failures")),
    )
    op.create_index(
        op.f("ix_automation_failures_automation_id"), "automation_failures", ["automation_id"]
    )
    with op.batch_alter_table("ticket_history") as batch:
        batch.add_column(sa.Column("actor_automation_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_ticket_history_actor_automation_id_automations"),
            "automations",
            ["actor_automation_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True))
    # The last status change the history recorded, else the creation (the status it was
    # opened in).
    op.execute(
        """
        UPDATE tickets SET status_changed_at = COALESCE(
            (SELECT MAX(h.created_at) FROM ticket_history h
             WHERE h.ticket_id = tickets.id AND h.field = 'status'),
            created_at
        )
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("status_changed_at")
    with op.batch_alter_table("ticket_history") as batch:
        batch.drop_constraint(
            op.f("fk_ticket_history_actor_automation_id_automations"), type_="foreignkey"
        )
        batch.drop_column("actor_automation_id")
    op.drop_index(op.f("ix_automation_failures_automation_id"), table_name="automation_failures")
    op.drop_table("automation_failures")
    op.drop_index(op.f("ix_automation_firings_ticket_id"), table_name="automation_firings")
    op.drop_table("automation_firings")
    op.drop_index(op.f("ix_automations_position"), table_name="automations")
    op.drop_table("automations")
