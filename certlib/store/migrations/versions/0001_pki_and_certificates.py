"""Regions, issuers, CRLs, status lists, certificates, data keys, counters.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the tables of the e-certificate library."""
    op.create_table(
        "counters",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "data_keys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("purpose", sa.String(40), nullable=False),
        sa.Column("wrapped", sa.LargeBinary, nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
    )
    op.create_table(
        "regions",
        sa.Column("code", sa.String(6), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("algorithm", sa.String(40), nullable=False),
        sa.Column("root_key", sa.String(100), nullable=False),
        sa.Column("issuing_key", sa.String(100), nullable=False),
        sa.Column("root_certificate", sa.LargeBinary, nullable=False),
        sa.Column("issuing_certificate", sa.LargeBinary, nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
    )
    op.create_table(
        "issuers",
        sa.Column("uscc", sa.String(18), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("region_code", sa.String(6), sa.ForeignKey("regions.code"), nullable=False),
        sa.Column("type_codes", sa.Text, nullable=False),
        sa.Column("algorithm", sa.String(40), nullable=False),
        sa.Column("key_name", sa.String(100), nullable=False),
        sa.Column("certificate", sa.LargeBinary, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
    )
    op.create_table(
        "crls",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("region_code", sa.String(6), sa.ForeignKey("regions.code"), nullable=False),
        sa.Column("authority", sa.String(20), nullable=False),
        sa.Column("number", sa.BigInteger, nullable=False),
        sa.Column("this_update", _TIME, nullable=False),
        sa.Column("next_update", _TIME, nullable=False),
        sa.Column("der", sa.LargeBinary, nullable=False),
        sa.UniqueConstraint("region_code", "authority", "number"),
    )
    op.create_table(
        "revoked_ca_certificates",
        sa.Column("region_code", sa.String(6), sa.ForeignKey("regions.code"), primary_key=True),
        sa.Column("authority", sa.String(20), primary_key=True),
        sa.Column("serial", sa.String(64), primary_key=True),
        sa.Column("revoked_at", _TIME, nullable=False),
        sa.Column("reason", sa.String(40), nullable=False),
    )
    op.create_table(
        "status_lists",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("issuer_uscc", sa.String(18), sa.ForeignKey("issuers.uscc"), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("used", sa.Integer, nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
    )
    op.create_table(
        "certificates",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("identifier", sa.String(200), nullable=False, unique=True),
        sa.Column("type_code", sa.String(40), nullable=False),
        sa.Column("type_name", sa.String(80), nullable=False),
        sa.Column("issuer_uscc", sa.String(18), sa.ForeignKey("issuers.uscc"), nullable=False),
        sa.Column("serial", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("holder_index", sa.LargeBinary, nullable=False),
        sa.Column("status_list_id", sa.Integer, sa.ForeignKey("status_lists.id"),
                  nullable=False),
        sa.Column("status_index", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("status_changed_at", _TIME, nullable=True),
        sa.Column("issued_at", _TIME, nullable=False),
        sa.Column("valid_from", _TIME, nullable=False),
        sa.Column("valid_until", _TIME, nullable=True),
        sa.Column("signed_object", sa.LargeBinary, nullable=False),
        sa.Column("data_key_id", sa.Integer, sa.ForeignKey("data_keys.id"), nullable=False),
        sa.Column("sealed_payload", sa.LargeBinary, nullable=False),
        sa.UniqueConstraint("status_list_id", "status_index"),
        sa.UniqueConstraint("issuer_uscc", "serial"),
    )
    op.create_index("ix_certificates_holder_index", "certificates", ["holder_index"])


def downgrade() -> None:
    """Drop them again."""
    op.drop_index("ix_certificates_holder_index", "certificates")
    for table in ("certificates", "status_lists", "revoked_ca_certificates", "crls", "issuers",
                  "regions", "data_keys", "counters"):
        op.drop_table(table)
