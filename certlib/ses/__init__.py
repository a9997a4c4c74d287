"""Electronic seals and seal signatures: GB/T 38540-2020 (v4), GM/T 0031 v1 and v5.

Make version-4 seals and signatures with SM2 keys held in the key store, read all three
versions, and verify them into `ValidationReport`s. See docs/seals-ses-ofd.md.
"""

from certlib.ses.build import (
    SealSpec,
    check_can_sign,
    make_seal,
    sign_data,
    sign_detached,
)
from certlib.ses.parse import (
    MalformedSeal,
    Seal,
    SealExtension,
    SealPicture,
    SesSignature,
    parse_seal,
    parse_signature,
)
from certlib.ses.verify import verify_seal, verify_ses_signature

__all__ = [
    "MalformedSeal",
    "Seal",
    "SealExtension",
    "SealPicture",
    "SealSpec",
    "SesSignature",
    "check_can_sign",
    "make_seal",
    "parse_seal",
    "parse_signature",
    "sign_data",
    "sign_detached",
    "verify_seal",
    "verify_ses_signature",
]
