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
    anchor_regions: dict[bytes, str] = field(default_factory=dict)
    """Which region each anchor is the root of. When given, a department's certificate must
    chain to the root of the region it names: one region's CA cannot vouch for another's
    departments. Empty: anchors are not told apart (a single-region verifier)."""

    def region_mismatch(self, path: tuple[bytes, ...], region: str) -> str | None:
        """Why a validated path (anchor last) may not speak for `region`, or None if it may."""
        if not self.anchor_regions or not path:
            return None
        rooted_in = self.anchor_regions.get(path[-1])
        if rooted_in is None:
            return "the certificate chains to a root of no known region"
        if rooted_in != region:
            return f"the certificate chains to region {rooted_in}'s root, not to {region}'s"
        return None
