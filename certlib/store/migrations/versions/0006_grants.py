"""Holders' grants, delegations and the uses of certificates, and the platform's own keys.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the tables."""
    op.create_table(
        "platform_signers",
        sa.Column("region_code", sa.String(6), sa.ForeignKey("regions.code"), primary_key=True),
        sa.Column("purpose", sa.String(20), primary_key=True),
        sa.Column("key_name", sa.String(100), nullable=False),
        sa.Column("certificate", sa.LargeBinary, nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
    )
    op.create_table(
        "delegations",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("holder_index", sa.LargeBinary, nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("parent_id", sa.String(40), sa.ForeignKey("delegations.id"), nullable=True),
        sa.Column("delegated_by", sa.String(200), nullable=False),
        sa.Column("agent_kind", sa.String(20), nullable=False),
        sa.Column("agent", sa.String(200), nullable=False),
        sa.Column("certificates", sa.Text, nullable=False),
        sa.Column("fields", sa.Text, nullable=False),
        sa.Column("matters", sa.Text, nullable=False),
        sa.Column("not_before", _TIME, nullable=False),
        sa.Column("not_after", _TIME, nullable=False),
        sa.Column("max_uses", sa.Integer, nullable=False),
        sa.Column("uses", sa.Integer, nullable=False),
        sa.Column("may_redelegate", sa.Boolean, nullable=False),
        sa.Column("depth_left", sa.Integer, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("revoked_at", _TIME, nullable=True),
    )
    op.create_index("ix_delegations_holder_index", "delegations", ["holder_index"])
    op.create_index("ix_delegations_agent", "delegations", ["agent"])
    op.create_table(
        "grants",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("holder_index", sa.LargeBinary, nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("granted_by", sa.String(200), nullable=False),
        sa.Column("delegation_id", sa.String(40), sa.ForeignKey("delegations.id"), nullable=True),
        sa.Column("audience", sa.String(18), nullable=False),
        sa.Column("certificates", sa.Text, nullable=False),
        sa.Column("fields", sa.Text, nullable=False),
        sa.Column("matter_code", sa.String(64), nullable=False),
        sa.Column("matter_name", sa.Text, nullable=False),
        sa.Column("reason", sa.LargeBinary, nullable=True),
        sa.Column("reason_key_id", sa.Integer, sa.ForeignKey("data_keys.id"), nullable=True),
        sa.Column("not_before", _TIME, nullable=False),
        sa.Column("not_after", _TIME, nullable=False),
        sa.Column("max_uses", sa.Integer, nullable=False),
        sa.Column("uses", sa.Integer, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("revoked_at", _TIME, nullable=True),
        sa.Column("token", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_grants_holder_index", "grants", ["holder_index"])
    op.create_table(
        "certificate_uses",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("receipt_id", sa.String(40), nullable=False, unique=True),
        sa.Column("holder_index", sa.LargeBinary, nullable=False),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("grant_id", sa.String(40), sa.ForeignKey("grants.id"), nullable=True),
        sa.Column("delegation_id", sa.String(40), sa.ForeignKey("delegations.id"), nullable=True),
        sa.Column("caller", sa.String(200), nullable=False),
        sa.Column("matter_code", sa.String(64), nullable=False),
        sa.Column("matter_name", sa.Text, nullable=False),
        sa.Column("legal_basis", sa.Text, nullable=True),
        sa.Column("certificates", sa.Text, nullable=False),
        sa.Column("fields", sa.Text, nullable=False),
        sa.Column("used_at", _TIME, nullable=False),
        sa.Column("receipt", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_certificate_uses_holder_index", "certificate_uses", ["holder_index"])


def downgrade() -> None:
    """Drop them again."""
    op.drop_index("ix_certificate_uses_holder_index", "certificate_uses")
    op.drop_index("ix_grants_holder_index", "grants")
    op.drop_index("ix_delegations_agent", "delegations")
    op.drop_index("ix_delegations_holder_index", "delegations")
    op.drop_table("certificate_uses")
    op.drop_table("grants")
    op.drop_table("delegations")
    op.drop_table("platform_signers")
