"""The Telegram outbox: notifications queued by every process, sent by the bot process.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)
KINDS = ("engine", "failures", "promotions", "trades", "guardrails", "daily_summary", "errors")


def upgrade() -> None:
    quoted = ", ".join(f"'{kind}'" for kind in KINDS)
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("photo", sa.LargeBinary(), nullable=True),
        sa.Column("silent", sa.Boolean(), nullable=False),
        sa.Column("chat_id", sa.String(64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", TZ, nullable=False),
        sa.Column("claimed_by", sa.String(128), nullable=True),
        sa.Column("claimed_at", TZ, nullable=True),
        sa.Column("sent_at", TZ, nullable=True),
        sa.Column("gave_up_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.CheckConstraint(f"kind IN ({quoted})", name=op.f("ck_notifications_kind")),
    )
    op.create_index(op.f("ix_notifications_sent_at_id"), "notifications", ["sent_at", "id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_notifications_sent_at_id"), table_name="notifications")
    op.drop_table("notifications")
