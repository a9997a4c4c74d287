"""Electronic seals: seal makers, seals, use policies, approval requests, uses.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the seal tables."""
    op.create_table(
        "seal_makers",
        sa.Column("region_code", sa.String(6), sa.ForeignKey("regions.code"), primary_key=True),
        sa.Column("key_name", sa.String(100), nullable=False),
        sa.Column("certificate", sa.LargeBinary, nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
    )
    op.create_table(
        "seals",
        sa.Column("es_id", sa.String(40), primary_key=True),
        sa.Column("region_code", sa.String(6), sa.ForeignKey("regions.code"), nullable=False),
        sa.Column("owner_uscc", sa.String(18), nullable=False),
        sa.Column("owner_name", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("seal_type", sa.Integer, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("valid_from", _TIME, nullable=False),
        sa.Column("valid_until", _TIME, nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("state_changed_at", _TIME, nullable=True),
        sa.Column("ses_key_name", sa.String(100), nullable=False),
        sa.Column("ses_certificate", sa.LargeBinary, nullable=False),
        sa.Column("pdf_key_name", sa.String(100), nullable=False),
        sa.Column("pdf_certificate", sa.LargeBinary, nullable=False),
        sa.Column("picture", sa.LargeBinary, nullable=False),
        sa.Column("picture_width_mm", sa.Integer, nullable=False),
        sa.Column("picture_height_mm", sa.Integer, nullable=False),
        sa.Column("seal", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_seals_owner_uscc", "seals", ["owner_uscc"])
    op.create_table(
        "seal_policies",
        sa.Column("es_id", sa.String(40), sa.ForeignKey("seals.es_id"), primary_key=True),
        sa.Column("users", sa.Text, nullable=False),
        sa.Column("document_kinds", sa.Text, nullable=False),
        sa.Column("daily_quota", sa.Integer, nullable=True),
        sa.Column("approvers", sa.Text, nullable=False),
        sa.Column("changed_at", _TIME, nullable=False),
    )
    op.create_table(
        "seal_use_requests",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("es_id", sa.String(40), sa.ForeignKey("seals.es_id"), nullable=False),
        sa.Column("requester", sa.String(200), nullable=False),
        sa.Column("document_kind", sa.String(10), nullable=False),
        sa.Column("document_digest", sa.String(64), nullable=False),
        sa.Column("purpose", sa.LargeBinary, nullable=False),
        sa.Column("purpose_key_id", sa.Integer, sa.ForeignKey("data_keys.id"),
                  nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("decided_at", _TIME, nullable=True),
        sa.Column("approver", sa.String(200), nullable=True),
        sa.Column("note", sa.LargeBinary, nullable=True),
        sa.Column("note_key_id", sa.Integer, sa.ForeignKey("data_keys.id"), nullable=True),
    )
    op.create_table(
        "seal_uses",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("es_id", sa.String(40), sa.ForeignKey("seals.es_id"), nullable=False),
        sa.Column("user", sa.String(200), nullable=False),
        sa.Column("approver", sa.String(200), nullable=True),
        sa.Column("request_id", sa.String(40), nullable=True, unique=True),
        sa.Column("document_kind", sa.String(10), nullable=False),
        sa.Column("document_digest", sa.String(64), nullable=False),
        sa.Column("sealed_digest", sa.String(64), nullable=False),
        sa.Column("purpose", sa.LargeBinary, nullable=False),
        sa.Column("purpose_key_id", sa.Integer, sa.ForeignKey("data_keys.id"),
                  nullable=False),
        sa.Column("used_at", _TIME, nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
    )
    op.create_index("ix_seal_uses_es_id_day", "seal_uses", ["es_id", "day"])


def downgrade() -> None:
    """Drop them again."""
    op.drop_index("ix_seal_uses_es_id_day", "seal_uses")
    op.drop_table("seal_uses")
    op.drop_table("seal_use_requests")
    op.drop_table("seal_policies")
    op.drop_index("ix_seals_owner_uscc", "seals")
    op.drop_table("seals")
    op.drop_table("seal_makers")
