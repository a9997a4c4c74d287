"""Errors of trust lists: input refused, list stale or missing, region not listed."""

from __future__ import annotations

import enum

from certlib.errors import TrustError, UnavailableError


class Rejection(enum.Enum):
    """Why a trust list was refused (the `reason` of `TrustListRejected`)."""

    OVERSIZED = "oversized"
    """Larger than the client accepts."""
    MALFORMED = "malformed"
    """Not UTF-8 JSON of the documented shape."""
    WRONG_TYPE = "wrong-type"
    """A list of the other kind, or of a format version this code does not read."""
    SIGNATURES = "signatures"
    """Fewer valid signatures by the required keys than the threshold (tampered, wrong key,
    too few signers)."""
    ROLLBACK = "rollback"
    """A version not higher than the one in force (or the same version with other content)."""
    EXPIRED = "expired"
    """Its expiry time has passed."""
    NOT_YET_VALID = "not-yet-valid"
    """Issued in the future, beyond the allowed clock skew."""
    REGION_NOT_LISTED = "region-not-listed"
    """A region list for a region the national list does not name."""


class TrustListRejected(TrustError):
    """A trust list that must not be used; the last good copy stays in force."""

    code = "TRUST_LIST_REJECTED"

    def __init__(self, reason: Rejection, message: str) -> None:
        super().__init__(f"trust list rejected ({reason.value}): {message}")
        self.reason = reason


class TrustListUnavailable(UnavailableError):
    """No usable trust list for a region now; retrying later may help."""

    code = "TRUST_LIST_UNAVAILABLE"


class TrustListStale(TrustListUnavailable):
    """The list in force (the region's, an enclosing region's or the national) has expired."""

    code = "TRUST_LIST_STALE"


class TrustListMissing(TrustListUnavailable):
    """No list has been accepted yet (for the region, or no national list at all)."""

    code = "TRUST_LIST_MISSING"


class RegionNotListed(TrustError):
    """The national list in force does not name this region."""

    code = "REGION_NOT_LISTED"
