"""Trust lists: each region's signed list and the national list of lists (跨地区互通互认).

A region publishes what a verifier anywhere needs to trust its certificates and seals: its
CAs, departments and the types they issue, seal makers, status and CRL sources, daemon
endpoint, and the types its sub-regions may issue. A national operator lists every region
with the keys (k-of-n) that sign its list, and signs that list with its own keys, in the
way of the EU list of trusted lists and TUF root metadata. See docs/trust-lists.md.

- making: `build_region_list`, `region_entry` + `build_national_list`, `sign`,
  `add_signatures`;
- verifying and updating: `TrustListClient` (state in the store, survives restarts);
- using: `TrustListClient.view()` -> `TrustView` (`trust_material_for`, `issuer_allowed`,
  `issuer_check`, `endpoint_of`, `status_location_of`, the combined `trust_material`);
- fetching: `fetch_location` (`file:`, `https:`, loopback `http:`), the `fetch` of `refresh`.
"""

from certlib.trustlist.canonical import MAX_DOCUMENT_BYTES, canonical
from certlib.trustlist.client import BOOTSTRAP_FILE, CLOCK_SKEW, TrustListClient
from certlib.trustlist.errors import (
    RegionNotListed,
    Rejection,
    TrustListMissing,
    TrustListRejected,
    TrustListStale,
    TrustListUnavailable,
)
from certlib.trustlist.fetch import (
    LocationRefused,
    TrustListFetchFailed,
    TrustListNotFound,
    TrustListTooLarge,
    fetch_location,
    location_fetcher,
)
from certlib.trustlist.model import (
    NATIONAL_TYPE,
    REGION_TYPE,
    Authorisation,
    Endpoint,
    IssuerEntry,
    NationalTrustList,
    RegionEntry,
    RegionTrustList,
    StatusLocation,
    parse_national_list,
    parse_region_list,
)
from certlib.trustlist.national import build_national_list, region_entry
from certlib.trustlist.region import build_region_list
from certlib.trustlist.signing import (
    KeyDefinition,
    SignedDocument,
    add_signatures,
    keyid,
    parse_signed,
    sign,
    valid_signers,
)
from certlib.trustlist.view import ISSUER_CHECK, ListState, TrustView

__all__ = [
    "BOOTSTRAP_FILE",
    "CLOCK_SKEW",
    "ISSUER_CHECK",
    "MAX_DOCUMENT_BYTES",
    "NATIONAL_TYPE",
    "REGION_TYPE",
    "Authorisation",
    "Endpoint",
    "IssuerEntry",
    "KeyDefinition",
    "ListState",
    "LocationRefused",
    "NationalTrustList",
    "RegionEntry",
    "RegionNotListed",
    "RegionTrustList",
    "Rejection",
    "SignedDocument",
    "StatusLocation",
    "TrustListClient",
    "TrustListFetchFailed",
    "TrustListMissing",
    "TrustListNotFound",
    "TrustListRejected",
    "TrustListStale",
    "TrustListTooLarge",
    "TrustListUnavailable",
    "TrustView",
    "add_signatures",
    "build_national_list",
    "build_region_list",
    "canonical",
    "fetch_location",
    "keyid",
    "location_fetcher",
    "parse_national_list",
    "parse_region_list",
    "parse_signed",
    "region_entry",
    "sign",
    "valid_signers",
]
