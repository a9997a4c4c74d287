"""The hash-chained audit log and its signed checkpoints.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the audit tables; the head row starts the chain at sequence 0."""
    op.create_table(
        "audit_records",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("time", _TIME, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("method", sa.String(200), nullable=False),
        sa.Column("objects", sa.Text, nullable=False),
        sa.Column("outcome", sa.String(80), nullable=False),
        sa.Column("request_id", sa.String(100), nullable=True),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("previous_hash", sa.LargeBinary, nullable=False),
        sa.Column("record_hash", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_audit_records_time", "audit_records", ["time"])
    op.create_index("ix_audit_records_actor", "audit_records", ["actor"])
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("record_hash", sa.LargeBinary, nullable=False),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "record_hash": b"\x00" * 32}])
    op.create_table(
        "audit_checkpoints",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("record_hash", sa.LargeBinary, nullable=False),
        sa.Column("time", _TIME, nullable=False),
        sa.Column("key_label", sa.String(120), nullable=False),
        sa.Column("algorithm", sa.String(40), nullable=False),
        sa.Column("public_key", sa.LargeBinary, nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    """Drop the audit tables."""
    for table in ("audit_checkpoints", "audit_head", "audit_records"):
        op.drop_table(table)
    # the indexes go with their table
