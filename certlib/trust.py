"""What a verifier trusts: region roots, known CA and department certificates, CRLs."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TrustMaterial:
    """What a verifier trusts and knows: anchors, other certificates, CRLs."""

    anchors: list[bytes]
    """Region root certificates."""
    certificates: list[bytes] = field(default_factory=list)
    """Issuing-CA and department certificates (needed for compact presentations)."""
    crls: list[bytes] = field(default_factory=list)
