"""What the seal registry and the seal-use desk keep: seals, policies, requests, uses."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from certlib.audit import Actor

CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")
"""Daily quotas count uses per calendar day in China Standard Time (UTC+8)."""


class SealState(enum.Enum):
    """Where a seal is in its life."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


class SealType(enum.IntEnum):
    """GB/T 38540 seal types (印章类型)."""

    OFFICIAL = 1
    """单位公章 and other organisation seals."""
    PERSONAL = 2
    """个人名章."""
    SPECIAL = 3
    """专用章 (contract, finance, invoice, ...)."""


class DocumentKind(enum.Enum):
    """What a seal is applied to."""

    PDF = "pdf"
    OFD = "ofd"
    DATA = "data"


class RequestState(enum.Enum):
    """A use request waiting for, or past, its second person's decision."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    USED = "used"


@dataclass(frozen=True)
class SealRecord:
    """One seal made here, and the keys and certificates it is applied with."""

    es_id: str
    region_code: str
    owner_uscc: str
    owner_name: str
    name: str
    seal_type: SealType
    state: SealState
    valid_from: datetime
    valid_until: datetime
    created_at: datetime
    ses_key_name: str
    ses_certificate: bytes
    """SM2 signer certificate: SES signatures and OFD."""
    pdf_key_name: str
    pdf_certificate: bytes
    """ECDSA/RSA signer certificate of the same department: PAdES."""
    picture: bytes
    picture_width_mm: int
    picture_height_mm: int
    seal: bytes
    """The SESeal (GB/T 38540 v4), as exported in a `.esl` file."""

    def valid_at(self, moment: datetime) -> bool:
        """Whether `moment` lies within the seal's validity."""
        return self.valid_from <= moment <= self.valid_until

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON (no keys, no picture bytes)."""
        return {"es_id": self.es_id, "region": self.region_code, "owner": self.owner_uscc,
                "owner_name": self.owner_name, "name": self.name,
                "type": self.seal_type.name.lower(), "state": self.state.value,
                "valid_from": self.valid_from.isoformat(),
                "valid_until": self.valid_until.isoformat()}


@dataclass(frozen=True)
class SealPolicy:
    """Who may apply a seal, to what, how often, and who must approve each use.

    `users` and `approvers` hold actor labels: `department:<USCC>` admits every operator
    of that department, `operator:<USCC>#<id>` one operator, `local:<user>` a local user.
    No approvers: uses need no approval. No daily quota: no limit."""

    users: tuple[str, ...]
    document_kinds: tuple[DocumentKind, ...] = (DocumentKind.PDF, DocumentKind.OFD,
                                                 DocumentKind.DATA)
    daily_quota: int | None = None
    approvers: tuple[str, ...] = ()

    @property
    def needs_approval(self) -> bool:
        """Whether every use waits for a second person."""
        return bool(self.approvers)

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON."""
        return {"users": list(self.users), "document_kinds": [k.value for k in
                                                              self.document_kinds],
                "daily_quota": self.daily_quota, "approvers": list(self.approvers)}


def admits(entries: tuple[str, ...], actor: Actor) -> bool:
    """Whether a policy list names `actor`, itself or through its department."""
    if actor.label in entries:
        return True
    if actor.kind == "operator":
        department = actor.id.split("#", 1)[0]
        return f"department:{department}" in entries
    return False


@dataclass(frozen=True)
class UseRequest:
    """A request to apply a seal to one document, for a second person to decide."""

    id: str
    es_id: str
    requester: str
    document_kind: DocumentKind
    document_digest: str
    """SHA-256 (hex) of the document as submitted."""
    purpose: str
    state: RequestState
    created_at: datetime
    decided_at: datetime | None = None
    approver: str | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON."""
        return {"id": self.id, "es_id": self.es_id, "requester": self.requester,
                "document_kind": self.document_kind.value,
                "document_digest": self.document_digest, "purpose": self.purpose,
                "state": self.state.value, "created_at": self.created_at.isoformat(),
                "decided_at": self.decided_at.isoformat() if self.decided_at else None,
                "approver": self.approver, "note": self.note}


@dataclass(frozen=True)
class SealUse:
    """One application of a seal."""

    id: int
    es_id: str
    user: str
    approver: str | None
    request_id: str | None
    document_kind: DocumentKind
    document_digest: str
    sealed_digest: str
    purpose: str
    used_at: datetime

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON."""
        return {"id": self.id, "es_id": self.es_id, "user": self.user,
                "approver": self.approver, "request_id": self.request_id,
                "document_kind": self.document_kind.value,
                "document_digest": self.document_digest, "sealed_digest": self.sealed_digest,
                "purpose": self.purpose, "used_at": self.used_at.isoformat()}


def quota_day(moment: datetime) -> date:
    """The calendar day (China Standard Time) a use counts against."""
    return moment.astimezone(CHINA_STANDARD_TIME).date()
