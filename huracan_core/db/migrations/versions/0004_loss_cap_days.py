"""When Hamilton's daily loss cap stopped new entries, per run and UTC day: the Mechanic's rollback reads it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # batch mode: SQLite cannot add a column inside a table with CHECK constraints otherwise in one step
    with op.batch_alter_table("daily_equity") as batch:
        batch.add_column(sa.Column("loss_cap_hit_ms", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("daily_equity") as batch:
        batch.drop_column("loss_cap_hit_ms")
