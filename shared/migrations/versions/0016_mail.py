"""mail: the messages taken in (and, with mail out, sent) that thread replies and dedupe
redeliveries (mail_messages)

Revision ID: d4b8f0e2a316
Revises: f2a6b5c40e14
Create Date: 2026-12-07 22:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d4b8f0e2a316"
down_revision: str | None = "f2a6b5c40e14"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mail_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=998), nullable=False),
        sa.Column(
            "direction",
            sa.Enum("in", "out", name="maildirection", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("comment_id", sa.Integer(), nullable=True),
        sa.Column("from_address", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("raw_blob", sa.String(length=64), nullable=True),
        sa.Column("parts", sa.JSON(), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum(
                "ticket_created",
                "commented",
                "dropped",
                "quarantined",
                "duplicate",
                "sent",
                name="mailoutcome",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_mail_messages_ticket_id_tickets"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["ticket_comments.id"],
            name=op.f("fk_mail_messages_comment_id_ticket_comments"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_messages")),
        sa.UniqueConstraint(
            "message_id", "direction", name="uq_mail_messages_message_id_direction"
        ),
    )
    op.create_index(op.f("ix_mail_messages_ticket_id"), "mail_messages", ["ticket_id"])
    op.create_index(
        "ix_mail_messages_outcome_received_at", "mail_messages", ["outcome", "received_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_mail_messages_outcome_received_at", table_name="mail_messages")
    op.drop_index(op.f("ix_mail_messages_ticket_id"), table_name="mail_messages")
    op.drop_table("mail_messages")
