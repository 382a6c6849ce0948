"""The Mechanic's trials: every challenger ever evaluated for a coin, the deflated Sharpe ratio's N.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "trials",
        sa.Column("symbol", sa.String(32), nullable=False),
        sa.Column("model_id", sa.String(64), nullable=False),
        sa.Column("as_of", TZ, nullable=False),
        sa.Column("evaluated_at", TZ, nullable=False),
        sa.Column("oos_bars", sa.Integer(), nullable=False),
        sa.Column("oos_trades", sa.Integer(), nullable=False),
        sa.Column("oos_sharpe", sa.Float(), nullable=True),
        sa.Column("net_pnl_pct", sa.Float(), nullable=True),
        sa.Column("model_trials", sa.Integer(), nullable=False),
        sa.Column("promoted", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("symbol", "model_id", name=op.f("pk_trials")),
    )
    op.create_index(op.f("ix_trials_symbol_as_of"), "trials", ["symbol", "as_of"])


def downgrade() -> None:
    op.drop_index(op.f("ix_trials_symbol_as_of"), table_name="trials")
    op.drop_table("trials")
