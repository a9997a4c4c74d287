"""What holders hand out and what the platform keeps: grants, delegations, uses."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class GrantState(enum.Enum):
    """Whether a grant (or a delegation) still counts."""

    ACTIVE = "active"
    REVOKED = "revoked"


class UseKind(enum.Enum):
    """How a certificate came to be used."""

    GRANT = "grant"
    """授权用证: a department used a grant the holder (or an agent) made."""
    DUTY = "duty"
    """依职能查验: a department with a legal duty for the matter fetched it."""
    SHOW = "show"
    """亮证: the holder (or an agent) showed it."""
    AGENT = "agent"
    """委托用证: an organisation agent presented it for the holder."""


@dataclass(frozen=True)
class Matter:
    """A government service matter (事项): its code and name."""

    code: str
    name: str


@dataclass(frozen=True)
class Grant:
    """授权用证: department `audience` may use these certificates' `fields` for `matter`."""

    id: str
    holder: str
    """The holder's pseudonym (never the identity number)."""
    granted_by: str
    """Who made it: `holder:<pseudonym>` or an agent's label."""
    delegation_id: str | None
    audience: str
    certificates: tuple[str, ...]
    fields: tuple[str, ...]
    matter: Matter
    not_before: datetime
    not_after: datetime
    max_uses: int
    uses: int
    state: GrantState
    created_at: datetime
    token: bytes
    """The platform-signed grant token (DER); `certlib.grants.tokens.to_text` for text."""

    @property
    def uses_left(self) -> int:
        """How many more times it may be used."""
        return max(0, self.max_uses - self.uses)

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON (no token bytes)."""
        return {"id": self.id, "holder": self.holder, "granted_by": self.granted_by,
                "delegation": self.delegation_id, "audience": self.audience,
                "certificates": list(self.certificates), "fields": list(self.fields),
                "matter_code": self.matter.code, "matter_name": self.matter.name,
                "not_before": self.not_before.isoformat(),
                "not_after": self.not_after.isoformat(), "max_uses": self.max_uses,
                "uses": self.uses, "state": self.state.value,
                "created_at": self.created_at.isoformat()}


@dataclass(frozen=True)
class Scope:
    """What a delegation allows: certificates, fields, matters (empty: any), a window and
    a number of uses, and whether and how deep the agent may delegate further."""

    certificates: tuple[str, ...]
    fields: tuple[str, ...]
    matters: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    max_uses: int
    may_redelegate: bool = False
    max_depth: int = 0
    """How many further delegations may follow below this one."""

    def narrower_than(self, parent: Scope, parent_uses_left: int) -> str | None:
        """None if this scope lies within `parent`'s; else what widens it."""
        if not set(self.certificates) <= set(parent.certificates):
            return "certificates"
        if not set(self.fields) <= set(parent.fields):
            return "fields"
        if parent.matters and (not self.matters or not set(self.matters) <= set(parent.matters)):
            return "matters"
        if self.not_before < parent.not_before or self.not_after > parent.not_after:
            return "validity window"
        if self.max_uses > parent_uses_left:
            return "number of uses"
        if self.may_redelegate and not parent.may_redelegate:
            return "re-delegation"
        if self.max_depth > parent.max_depth - 1:
            return "depth"
        return None


@dataclass(frozen=True)
class Delegation:
    """委托用证: an agent may present or grant a holder's certificates within `scope`."""

    id: str
    holder: str
    parent_id: str | None
    delegated_by: str
    agent_kind: str
    """`person` (by identity number, kept as a pseudonym) or `organisation` (by USCC)."""
    agent: str
    """The agent's label: `holder:<pseudonym>` for a person, `department:<USCC>` otherwise."""
    scope: Scope
    uses: int
    state: GrantState
    created_at: datetime

    @property
    def uses_left(self) -> int:
        """How many more uses it allows."""
        return max(0, self.scope.max_uses - self.uses)

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON."""
        scope = self.scope
        return {"id": self.id, "holder": self.holder, "parent": self.parent_id,
                "delegated_by": self.delegated_by, "agent_kind": self.agent_kind,
                "agent": self.agent, "certificates": list(scope.certificates),
                "fields": list(scope.fields), "matters": list(scope.matters),
                "not_before": scope.not_before.isoformat(),
                "not_after": scope.not_after.isoformat(), "max_uses": scope.max_uses,
                "uses": self.uses, "may_redelegate": scope.may_redelegate,
                "max_depth": scope.max_depth, "state": self.state.value,
                "created_at": self.created_at.isoformat()}


@dataclass(frozen=True)
class CertificateUse:
    """One use of a holder's certificates, as the holder's history shows it."""

    receipt_id: str
    kind: UseKind
    caller: str
    matter: Matter
    legal_basis: str | None
    grant_id: str | None
    delegation_id: str | None
    certificates: tuple[str, ...]
    fields: tuple[str, ...]
    used_at: datetime
    receipt: bytes
    """The platform-signed receipt (DER): no field values, verifiable by the holder."""

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON (no receipt bytes)."""
        return {"receipt_id": self.receipt_id, "kind": self.kind.value, "caller": self.caller,
                "matter_code": self.matter.code, "matter_name": self.matter.name,
                "legal_basis": self.legal_basis, "grant": self.grant_id,
                "delegation": self.delegation_id, "certificates": list(self.certificates),
                "fields": list(self.fields), "used_at": self.used_at.isoformat()}
