"""Signed status-list snapshots, and an index to build a list from its non-valid entries.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the snapshot table and the covering index on certificates."""
    op.create_table(
        "status_list_snapshots",
        sa.Column("list_id", sa.Integer, sa.ForeignKey("status_lists.id"), primary_key=True),
        sa.Column("number", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("this_update", _TIME, nullable=False),
        sa.Column("next_update", _TIME, nullable=False),
        sa.Column("digest", sa.LargeBinary, nullable=False),
        sa.Column("der", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_certificates_status_list_status", "certificates",
                    ["status_list_id", "status", "status_index"])


def downgrade() -> None:
    """Drop them again."""
    op.drop_index("ix_certificates_status_list_status", "certificates")
    op.drop_table("status_list_snapshots")
