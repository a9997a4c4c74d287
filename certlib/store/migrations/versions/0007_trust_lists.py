"""Trust lists in force: the national list of lists and each region's list.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the table."""
    op.create_table(
        "trust_lists",
        sa.Column("scope", sa.String(16), primary_key=True),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("issued", _TIME, nullable=False),
        sa.Column("expires", _TIME, nullable=False),
        sa.Column("document", sa.LargeBinary, nullable=False),
        sa.Column("accepted_at", _TIME, nullable=False),
    )


def downgrade() -> None:
    """Drop the table."""
    op.drop_table("trust_lists")
