"""Lookups in the trust lists in force at one moment: per region, and across all regions.

A lookup answers only from a list that is in force and unexpired; otherwise it raises
`TrustListStale` / `TrustListMissing` (UnavailableError: a verifier answers INDETERMINATE /
TRY_LATER) or `RegionNotListed` (the national list does not vouch for the region).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from datetime import datetime

from certlib import regions as divisions
from certlib.report import Check, CheckResult, SubIndication
from certlib.trust import TrustMaterial
from certlib.trustlist.errors import (
    RegionNotListed,
    TrustListMissing,
    TrustListStale,
    TrustListUnavailable,
)
from certlib.trustlist.model import Endpoint, NationalTrustList, RegionTrustList, StatusLocation

ISSUER_CHECK = "trust-list-issuer"
"""Name of the check `TrustView.issuer_check` returns."""


class ListState(enum.Enum):
    """How a region stands in the trust lists at a moment."""

    FRESH = "fresh"
    """Named by the national list, with an accepted and unexpired list."""
    STALE = "stale"
    """Its list (or the national list) has expired: not usable until a newer one arrives."""
    MISSING = "missing"
    """Named by the national list, but no list of it accepted yet (or no national list)."""
    NOT_LISTED = "not-listed"
    """Not named by the national list."""


class TrustView:
    """The national list and region lists in force, judged at moment `at`."""

    def __init__(self, national: NationalTrustList | None,
                 lists: Mapping[str, RegionTrustList], at: datetime) -> None:
        self._national = national
        self._lists = dict(lists)
        self.at = at

    # -- the lists ----------------------------------------------------------------------------

    @property
    def national(self) -> NationalTrustList:
        """The national list in force; TrustListMissing / TrustListStale if none usable."""
        if self._national is None:
            raise TrustListMissing("no national trust list is installed")
        if self.at >= self._national.expires:
            raise TrustListStale(f"the national trust list (version {self._national.version}) "
                                 "has expired")
        return self._national

    def state_of(self, region: str) -> ListState:
        """How `region` stands now."""
        if self._national is None:
            return ListState.MISSING
        if region not in self._national.regions:
            return ListState.NOT_LISTED
        listed = self._lists.get(region)
        if listed is None:
            return ListState.MISSING
        if self.at >= self._national.expires or self.at >= listed.expires:
            return ListState.STALE
        return ListState.FRESH

    def regions(self, state: ListState | None = None) -> tuple[str, ...]:
        """Codes of the regions the national list names (those in `state` only, if given)."""
        if self._national is None:
            return ()
        return tuple(code for code in self._national.regions
                     if state is None or self.state_of(code) is state)

    def region_list(self, region: str) -> RegionTrustList:
        """The region's list in force; raises unless it is fresh."""
        national = self.national
        if region not in national.regions:
            raise RegionNotListed(f"the national trust list does not name region {region!r}")
        listed = self._lists.get(region)
        if listed is None:
            raise TrustListMissing(f"no trust list of region {region} has been accepted")
        if self.at >= listed.expires:
            raise TrustListStale(f"the trust list of region {region} (version "
                                 f"{listed.version}) has expired")
        return listed

    # -- what a verifier asks -------------------------------------------------------------------

    def trust_material_for(self, region: str, crls: Sequence[bytes] = ()) -> TrustMaterial:
        """The region's anchors and CA, department and seal-maker certificates (+ `crls`)."""
        return _material([self.region_list(region)], crls)

    def trust_material(self, crls: Sequence[bytes] = ()) -> TrustMaterial:
        """Anchors and certificates of every region whose list is fresh (+ `crls`)."""
        return _material([self._lists[code] for code in self.regions(ListState.FRESH)], crls)

    def issuer_allowed(self, region: str, uscc: str, type_code: str) -> bool:
        """Whether department `uscc` of `region` may issue `type_code`: its region's list
        says so, and so does every enclosing region that has a list (province, city)."""
        entry = self.region_list(region).issuer(uscc)
        if entry is None or type_code not in entry.certificate_types:
            return False
        listed = self.national.regions
        for enclosing in divisions.ancestors(region)[1:]:
            if enclosing in listed and not self.region_list(enclosing).authorises(
                    region, type_code):
                return False
        return True

    def issuer_check(self, region: str, uscc: str, type_code: str) -> Check:
        """`issuer_allowed` as a report check: PASSED, FAILED (NOT_AUTHORISED) or
        INDETERMINATE (TRY_LATER when a list is stale or missing, NO_CERTIFICATE_CHAIN_FOUND
        when the national list does not name the region)."""
        try:
            allowed = self.issuer_allowed(region, uscc, type_code)
        except TrustListUnavailable as error:
            return Check(ISSUER_CHECK, CheckResult.INDETERMINATE, error.message,
                         SubIndication.TRY_LATER)
        except RegionNotListed as error:
            return Check(ISSUER_CHECK, CheckResult.INDETERMINATE, error.message,
                         SubIndication.NO_CERTIFICATE_CHAIN_FOUND)
        if not allowed:
            return Check(ISSUER_CHECK, CheckResult.FAILED,
                         "the trust lists do not allow this department this type",
                         SubIndication.NOT_AUTHORISED)
        return Check(ISSUER_CHECK, CheckResult.PASSED,
                     f"region {region} lists the department for this type")

    def endpoint_of(self, region: str) -> Endpoint:
        """The region's daemon: host:port, TLS server name and CA certificates."""
        return self.region_list(region).endpoint

    def status_location_of(self, region: str) -> StatusLocation:
        """Where the region's status lists and CRLs are fetched from."""
        return self.region_list(region).status


def _material(lists: Sequence[RegionTrustList], crls: Sequence[bytes]) -> TrustMaterial:
    anchors: dict[bytes, str] = {}
    certificates: dict[bytes, None] = {}
    for listed in lists:
        anchors.update(dict.fromkeys(listed.roots, listed.region))
        certificates.update(dict.fromkeys(listed.issuing))
        certificates.update(dict.fromkeys(entry.certificate for entry in listed.issuers))
        certificates.update(dict.fromkeys(listed.seal_makers))
    return TrustMaterial(anchors=list(anchors), certificates=list(certificates),
                         crls=list(crls), anchor_regions=anchors)
