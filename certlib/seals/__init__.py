"""Electronic seals (电子印章): making them (制发), controlling their use (用印管理),
applying them to PDF, OFD and raw data, and verifying sealed documents.

The formats live in `certlib.ses` (GB/T 38540 seal data), `certlib.ofd` (OFD
signatures) and `certlib.pdfsign` / `certlib.pdfverify` (PAdES); this package holds what
a platform keeps about its seals and the rules for applying them."""

from __future__ import annotations

from certlib.seals.apply import Placement, SealApplier, SealedDocument
from certlib.seals.control import SealUseDesk
from certlib.seals.errors import (
    ApprovalRequired,
    QuotaExceeded,
    RequestNotFound,
    SealExists,
    SealNotFound,
    SealStateError,
    SealUseRefused,
)
from certlib.seals.records import (
    DocumentKind,
    RequestState,
    SealPolicy,
    SealRecord,
    SealState,
    SealType,
    SealUse,
    UseRequest,
)
from certlib.seals.registry import SealRegistry

__all__ = [
    "ApprovalRequired",
    "DocumentKind",
    "Placement",
    "QuotaExceeded",
    "RequestNotFound",
    "RequestState",
    "SealApplier",
    "SealExists",
    "SealNotFound",
    "SealPolicy",
    "SealRecord",
    "SealRegistry",
    "SealState",
    "SealStateError",
    "SealType",
    "SealUse",
    "SealUseDesk",
    "SealUseRefused",
    "SealedDocument",
    "UseRequest",
]
