"""The store's tables (SQLAlchemy Core). Alembic migrations create and evolve them."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Timestamp = sa.DateTime(timezone=True)

counters = sa.Table(
    "counters",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

data_keys = sa.Table(
    "data_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("purpose", sa.String(40), nullable=False),
    sa.Column("wrapped", sa.LargeBinary, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)

regions = sa.Table(
    "regions",
    metadata,
    sa.Column("code", sa.String(6), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("algorithm", sa.String(40), nullable=False),
    sa.Column("root_key", sa.String(100), nullable=False),
    sa.Column("issuing_key", sa.String(100), nullable=False),
    sa.Column("root_certificate", sa.LargeBinary, nullable=False),
    sa.Column("issuing_certificate", sa.LargeBinary, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)

issuers = sa.Table(
    "issuers",
    metadata,
    sa.Column("uscc", sa.String(18), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("region_code", sa.String(6), sa.ForeignKey("regions.code"), nullable=False),
    sa.Column("type_codes", sa.Text, nullable=False),
    sa.Column("algorithm", sa.String(40), nullable=False),
    sa.Column("key_name", sa.String(100), nullable=False),
    sa.Column("certificate", sa.LargeBinary, nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)

crls = sa.Table(
    "crls",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("region_code", sa.String(6), sa.ForeignKey("regions.code"), nullable=False),
    sa.Column("authority", sa.String(20), nullable=False),
    sa.Column("number", sa.BigInteger, nullable=False),
    sa.Column("this_update", Timestamp, nullable=False),
    sa.Column("next_update", Timestamp, nullable=False),
    sa.Column("der", sa.LargeBinary, nullable=False),
    sa.UniqueConstraint("region_code", "authority", "number"),
)

revoked_ca_certificates = sa.Table(
    "revoked_ca_certificates",
    metadata,
    sa.Column("region_code", sa.String(6), sa.ForeignKey("regions.code"), primary_key=True),
    sa.Column("authority", sa.String(20), primary_key=True),
    sa.Column("serial", sa.String(64), primary_key=True),
    sa.Column("revoked_at", Timestamp, nullable=False),
    sa.Column("reason", sa.String(40), nullable=False),
)

status_lists = sa.Table(
    "status_lists",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("issuer_uscc", sa.String(18), sa.ForeignKey("issuers.uscc"), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("used", sa.Integer, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)

certificates = sa.Table(
    "certificates",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("identifier", sa.String(200), nullable=False, unique=True),
    sa.Column("type_code", sa.String(40), nullable=False),
    sa.Column("type_name", sa.String(80), nullable=False),
    sa.Column("issuer_uscc", sa.String(18), sa.ForeignKey("issuers.uscc"), nullable=False),
    sa.Column("serial", sa.String(64), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("holder_index", sa.LargeBinary, nullable=False),
    sa.Column("status_list_id", sa.Integer, sa.ForeignKey("status_lists.id"), nullable=False),
    sa.Column("status_index", sa.Integer, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("status_changed_at", Timestamp, nullable=True),
    sa.Column("issued_at", Timestamp, nullable=False),
    sa.Column("valid_from", Timestamp, nullable=False),
    sa.Column("valid_until", Timestamp, nullable=True),
    sa.Column("signed_object", sa.LargeBinary, nullable=False),
    sa.Column("data_key_id", sa.Integer, sa.ForeignKey("data_keys.id"), nullable=False),
    sa.Column("sealed_payload", sa.LargeBinary, nullable=False),
    sa.UniqueConstraint("status_list_id", "status_index"),
    sa.UniqueConstraint("issuer_uscc", "serial"),
    sa.Index("ix_certificates_holder_index", "holder_index"),
)

# -- audit (migration 0003) ----------------------------------------------------------------

audit_records = sa.Table(
    "audit_records",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("time", Timestamp, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("method", sa.String(200), nullable=False),
    sa.Column("objects", sa.Text, nullable=False),
    sa.Column("outcome", sa.String(80), nullable=False),
    sa.Column("request_id", sa.String(100), nullable=True),
    sa.Column("details", sa.Text, nullable=False),
    sa.Column("previous_hash", sa.LargeBinary, nullable=False),
    sa.Column("record_hash", sa.LargeBinary, nullable=False),
    sa.Index("ix_audit_records_time", "time"),
    sa.Index("ix_audit_records_actor", "actor"),
)

audit_head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("record_hash", sa.LargeBinary, nullable=False),
)

audit_checkpoints = sa.Table(
    "audit_checkpoints",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("record_hash", sa.LargeBinary, nullable=False),
    sa.Column("time", Timestamp, nullable=False),
    sa.Column("key_label", sa.String(120), nullable=False),
    sa.Column("algorithm", sa.String(40), nullable=False),
    sa.Column("public_key", sa.LargeBinary, nullable=False),
    sa.Column("signature", sa.LargeBinary, nullable=False),
)

status_list_snapshots = sa.Table(
    "status_list_snapshots",
    metadata,
    sa.Column("list_id", sa.Integer, sa.ForeignKey("status_lists.id"), primary_key=True),
    sa.Column("number", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("this_update", Timestamp, nullable=False),
    sa.Column("next_update", Timestamp, nullable=False),
    sa.Column("digest", sa.LargeBinary, nullable=False),
    sa.Column("der", sa.LargeBinary, nullable=False),
)
"""Signed status-list snapshots: (list, number) is unique, so racing publishers cannot clash."""

ix_certificates_status_list_status = sa.Index(
    "ix_certificates_status_list_status",
    certificates.c.status_list_id, certificates.c.status, certificates.c.status_index,
)
"""Covers the non-valid entries of one list, so building a list reads no table rows."""

# -- idempotent issuance (migration 0004) ----------------------------------------------------

issue_requests = sa.Table(
    "issue_requests",
    metadata,
    sa.Column("actor", sa.String(200), primary_key=True),
    sa.Column("request_id", sa.String(100), primary_key=True),
    sa.Column("request_digest", sa.LargeBinary, nullable=False),
    sa.Column("identifier", sa.String(200), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)

# -- electronic seals (migration 0005) -------------------------------------------------------

seal_makers = sa.Table(
    "seal_makers",
    metadata,
    sa.Column("region_code", sa.String(6), sa.ForeignKey("regions.code"), primary_key=True),
    sa.Column("key_name", sa.String(100), nullable=False),
    sa.Column("certificate", sa.LargeBinary, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)
"""The seal-making authority (制章系统) of each region: an SM2 key and its certificate."""

seals = sa.Table(
    "seals",
    metadata,
    sa.Column("es_id", sa.String(40), primary_key=True),
    sa.Column("region_code", sa.String(6), sa.ForeignKey("regions.code"), nullable=False),
    sa.Column("owner_uscc", sa.String(18), nullable=False),
    sa.Column("owner_name", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("seal_type", sa.Integer, nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("valid_from", Timestamp, nullable=False),
    sa.Column("valid_until", Timestamp, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("state_changed_at", Timestamp, nullable=True),
    sa.Column("ses_key_name", sa.String(100), nullable=False),
    sa.Column("ses_certificate", sa.LargeBinary, nullable=False),
    sa.Column("pdf_key_name", sa.String(100), nullable=False),
    sa.Column("pdf_certificate", sa.LargeBinary, nullable=False),
    sa.Column("picture", sa.LargeBinary, nullable=False),
    sa.Column("picture_width_mm", sa.Integer, nullable=False),
    sa.Column("picture_height_mm", sa.Integer, nullable=False),
    sa.Column("seal", sa.LargeBinary, nullable=False),
    sa.Index("ix_seals_owner_uscc", "owner_uscc"),
)
"""Seals made here: the SESeal (.esl), its signer certificates and keys, its state."""

seal_policies = sa.Table(
    "seal_policies",
    metadata,
    sa.Column("es_id", sa.String(40), sa.ForeignKey("seals.es_id"), primary_key=True),
    sa.Column("users", sa.Text, nullable=False),
    sa.Column("document_kinds", sa.Text, nullable=False),
    sa.Column("daily_quota", sa.Integer, nullable=True),
    sa.Column("approvers", sa.Text, nullable=False),
    sa.Column("changed_at", Timestamp, nullable=False),
)
"""Who may apply a seal, to what, how often, and who must approve (empty: nobody)."""

seal_use_requests = sa.Table(
    "seal_use_requests",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("es_id", sa.String(40), sa.ForeignKey("seals.es_id"), nullable=False),
    sa.Column("requester", sa.String(200), nullable=False),
    sa.Column("document_kind", sa.String(10), nullable=False),
    sa.Column("document_digest", sa.String(64), nullable=False),
    sa.Column("purpose", sa.LargeBinary, nullable=False),
    sa.Column("purpose_key_id", sa.Integer, sa.ForeignKey("data_keys.id"), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("decided_at", Timestamp, nullable=True),
    sa.Column("approver", sa.String(200), nullable=True),
    sa.Column("note", sa.LargeBinary, nullable=True),
    sa.Column("note_key_id", sa.Integer, sa.ForeignKey("data_keys.id"), nullable=True),
)
"""Requests to apply a seal that need a second person's approval."""

seal_uses = sa.Table(
    "seal_uses",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("es_id", sa.String(40), sa.ForeignKey("seals.es_id"), nullable=False),
    sa.Column("user", sa.String(200), nullable=False),
    sa.Column("approver", sa.String(200), nullable=True),
    sa.Column("request_id", sa.String(40), nullable=True, unique=True),
    sa.Column("document_kind", sa.String(10), nullable=False),
    sa.Column("document_digest", sa.String(64), nullable=False),
    sa.Column("sealed_digest", sa.String(64), nullable=False),
    sa.Column("purpose", sa.LargeBinary, nullable=False),
    sa.Column("purpose_key_id", sa.Integer, sa.ForeignKey("data_keys.id"), nullable=False),
    sa.Column("used_at", Timestamp, nullable=False),
    sa.Column("day", sa.String(10), nullable=False),
    sa.Index("ix_seal_uses_es_id_day", "es_id", "day"),
)
"""Every application of a seal: document digests before and after, who, who approved, why."""

# -- holders' grants, delegations and the uses of certificates (migration 0006) ---------------

platform_signers = sa.Table(
    "platform_signers",
    metadata,
    sa.Column("region_code", sa.String(6), sa.ForeignKey("regions.code"), primary_key=True),
    sa.Column("purpose", sa.String(20), primary_key=True),
    sa.Column("key_name", sa.String(100), nullable=False),
    sa.Column("certificate", sa.LargeBinary, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)
"""Keys the platform itself signs with, per region and purpose (`use`: grant tokens,
receipts, showings, annotated copies)."""

delegations = sa.Table(
    "delegations",
    metadata,
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
    sa.Column("not_before", Timestamp, nullable=False),
    sa.Column("not_after", Timestamp, nullable=False),
    sa.Column("max_uses", sa.Integer, nullable=False),
    sa.Column("uses", sa.Integer, nullable=False),
    sa.Column("may_redelegate", sa.Boolean, nullable=False),
    sa.Column("depth_left", sa.Integer, nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("revoked_at", Timestamp, nullable=True),
    sa.Index("ix_delegations_holder_index", "holder_index"),
    sa.Index("ix_delegations_agent", "agent"),
)
"""委托用证: a holder's (or an agent's narrower) delegation of a certificate to an agent."""

grants = sa.Table(
    "grants",
    metadata,
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
    sa.Column("not_before", Timestamp, nullable=False),
    sa.Column("not_after", Timestamp, nullable=False),
    sa.Column("max_uses", sa.Integer, nullable=False),
    sa.Column("uses", sa.Integer, nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("revoked_at", Timestamp, nullable=True),
    sa.Column("token", sa.LargeBinary, nullable=False),
    sa.Index("ix_grants_holder_index", "holder_index"),
)
"""授权用证: a holder lets one department use certificates, for one matter, a few times."""

certificate_uses = sa.Table(
    "certificate_uses",
    metadata,
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
    sa.Column("used_at", Timestamp, nullable=False),
    sa.Column("receipt", sa.LargeBinary, nullable=False),
    sa.Index("ix_certificate_uses_holder_index", "holder_index"),
)
"""Every use of a holder's certificates (by grant, by duty, by showing), with its receipt."""

trust_lists = sa.Table(
    "trust_lists",
    metadata,
    sa.Column("scope", sa.String(16), primary_key=True),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("issued", Timestamp, nullable=False),
    sa.Column("expires", Timestamp, nullable=False),
    sa.Column("document", sa.LargeBinary, nullable=False),
    sa.Column("accepted_at", Timestamp, nullable=False),
)
"""Trust lists in force at this verifier (`scope`: `national` or a region code): the signed
document as accepted, its version (the rollback floor) and the digest of its signed part."""
