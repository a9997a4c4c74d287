"""Holders' grants (授权用证), delegations (委托用证), uses by duty (依职能查验), showings
(亮证) and the signed receipts of every use."""

from __future__ import annotations

from certlib.grants.delegation import DelegationDesk
from certlib.grants.desk import GrantDesk, UseResult
from certlib.grants.errors import (
    AudienceMismatch,
    DelegationNotFound,
    DelegationRefused,
    GrantNotFound,
    GrantRefused,
    GrantTokenInvalid,
    GrantUsedUp,
    NoDuty,
)
from certlib.grants.holders import Holder, HolderDirectory
from certlib.grants.records import (
    CertificateUse,
    Delegation,
    Grant,
    GrantState,
    Matter,
    Scope,
    UseKind,
)
from certlib.grants.showing import ShowDesk, verify_receipt, verify_show
from certlib.grants.signers import PlatformKeys
from certlib.grants.tokens import from_text, to_text

__all__ = [
    "AudienceMismatch",
    "CertificateUse",
    "Delegation",
    "DelegationDesk",
    "DelegationNotFound",
    "DelegationRefused",
    "Grant",
    "GrantDesk",
    "GrantNotFound",
    "GrantRefused",
    "GrantState",
    "GrantTokenInvalid",
    "GrantUsedUp",
    "Holder",
    "HolderDirectory",
    "Matter",
    "NoDuty",
    "PlatformKeys",
    "Scope",
    "ShowDesk",
    "UseKind",
    "UseResult",
    "from_text",
    "to_text",
    "verify_receipt",
    "verify_show",
]
