"""Client request ids of issuances, so that a retried request issues nothing new.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the request-id table."""
    op.create_table(
        "issue_requests",
        sa.Column("actor", sa.String(200), primary_key=True),
        sa.Column("request_id", sa.String(100), primary_key=True),
        sa.Column("request_digest", sa.LargeBinary, nullable=False),
        sa.Column("identifier", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop it again."""
    op.drop_table("issue_requests")
