"""Object identifiers: certlib's own arc and the Chinese standards' ones it uses.

certlib's arc is a UUID OID (ITU-T X.667, `2.25.<UUID as integer>`), which needs no
registration and cannot collide with anyone else's.
"""

from __future__ import annotations

from asn1crypto import cms, x509

CERTLIB_ARC = "2.25.89727677558401732758394429194209475165"

# Content types
CERTIFICATE_SECURITY_OBJECT = f"{CERTLIB_ARC}.1.1"
"""eContentType of a signed e-certificate's security object."""
STATUS_LIST = f"{CERTLIB_ARC}.1.2"
"""eContentType of a signed status list (W3C Bitstring Status List JSON)."""
GRANT_TOKEN = f"{CERTLIB_ARC}.1.3"
"""eContentType of a holder's grant (授权用证) as the platform signs it."""
USE_RECEIPT = f"{CERTLIB_ARC}.1.4"
"""eContentType of the receipt of one use of a certificate."""
SHOW_TOKEN = f"{CERTLIB_ARC}.1.5"
"""eContentType of a short-lived showing (亮证) of a presentation."""

# Certificate extensions
ISSUER_AUTHORISATION = f"{CERTLIB_ARC}.2.1"
"""Extension in a department's signing certificate: its region and certificate types."""

# Extended key usages
KP_ECERT_SIGNING = f"{CERTLIB_ARC}.3.1"
"""EKU: may sign electronic certificates."""

# GM/T 0010 (GB/T 35275) SM2 cryptographic message syntax
GM_DATA = "1.2.156.10197.6.1.4.2.1"
GM_SIGNED_DATA = "1.2.156.10197.6.1.4.2.2"
SM2_SIGN = "1.2.156.10197.1.301.1"
"""sm2-1: the digestEncryptionAlgorithm of GM/T 0010 SignerInfos."""
SM2_WITH_SM3 = "1.2.156.10197.1.501"
SM3 = "1.2.156.10197.1.401"
SM2_CURVE = "1.2.156.10197.1.301"

# RFC 9336 document signing
KP_DOCUMENT_SIGNING = "1.3.6.1.5.5.7.3.36"


def _register() -> None:
    """Teach asn1crypto the names it lacks, so parsed values carry readable names."""
    cms.ContentType._map.setdefault(CERTIFICATE_SECURITY_OBJECT, "certlib_cso")
    cms.ContentType._map.setdefault(STATUS_LIST, "certlib_status_list")
    cms.ContentType._map.setdefault(GRANT_TOKEN, "certlib_grant_token")
    cms.ContentType._map.setdefault(USE_RECEIPT, "certlib_use_receipt")
    cms.ContentType._map.setdefault(SHOW_TOKEN, "certlib_show_token")
    cms.ContentType._map.setdefault(GM_SIGNED_DATA, "gm_signed_data")
    cms.ContentType._map.setdefault(GM_DATA, "gm_data")
    x509.KeyPurposeId._map.setdefault(KP_ECERT_SIGNING, "certlib_ecert_signing")
    x509.KeyPurposeId._map.setdefault(KP_DOCUMENT_SIGNING, "document_signing")


_register()
