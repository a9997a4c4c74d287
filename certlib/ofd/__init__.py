"""OFD (GB/T 33190) signatures: electronic seals (GB/T 38540) and GB/T 35275 signatures.

Read packages safely, add `Type="Seal"` or `Type="Sign"` signatures, and verify every
signature of a document. See docs/seals-ses-ofd.md.
"""

from certlib.ofd.package import DEFAULT_LIMITS, Limits, MalformedOfd, OfdPackage, read_package
from certlib.ofd.sign import (
    DocumentClosed,
    PreparedSignature,
    prepare_signature,
    seal_ofd,
    sign_ofd,
)
from certlib.ofd.verify import OfdReport, verify_ofd

__all__ = [
    "DEFAULT_LIMITS",
    "DocumentClosed",
    "Limits",
    "MalformedOfd",
    "OfdPackage",
    "OfdReport",
    "PreparedSignature",
    "prepare_signature",
    "read_package",
    "seal_ofd",
    "sign_ofd",
    "verify_ofd",
]
