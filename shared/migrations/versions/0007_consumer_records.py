"""consumer records: the notifier's ledger of the events it recorded (notified_events), and the
outbox's creation time indexed for the reconciler's window

Events already published count as notified: the notifier kept no ledger before, and without
this the reconciler would send a day of events to the stream again after the upgrade.

Revision ID: 1bd214fe4ccf
Revises: 13433177c0bb
Create Date: 2026-12-03 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1bd214fe4ccf"
down_revision: str | None = "13433177c0bb"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notified_events",
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_notified_events")),
    )
    op.create_index(
        op.f("ix_notified_events_recorded_at"), "notified_events", ["recorded_at"], unique=False
    )
    op.create_index(op.f("ix_outbox_created_at"), "outbox", ["created_at"], unique=False)
    op.execute(
        "INSERT INTO notified_events (event_id, recorded_at) "
        "SELECT event_id, published_at FROM outbox WHERE published_at IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_outbox_created_at"), table_name="outbox")
    op.drop_index(op.f("ix_notified_events_recorded_at"), table_name="notified_events")
    op.drop_table("notified_events")
