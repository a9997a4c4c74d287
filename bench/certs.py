"""E-certificate issuing and verifying against the raw limits, measured in one run.

- issue rate (validate, salt, commit, HSM signature, sealed store record) against the raw
  HSM signing rate of the same ECDSA P-256 key through bare python-pkcs11;
- presentation verify rate (parse, envelope, signature, chain from cache, authorisation,
  validity, status, field digests) against raw `cryptography` ECDSA P-256 verification.
"""

from __future__ import annotations

import hashlib

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from pkcs11 import Mechanism, ObjectClass
from pkcs11.types import SignMixin

from bench.common import interleaved, rate, temporary_settings
from certlib.ids import uscc_with_check
from certlib.keys import token_config
from certlib.platform import open_platform
from certlib.present import present, qr_code, to_qr_text
from hsm.session import TokenSession
from tests.samples import SAMPLES

ISSUES = 300
VERIFIES = 500


def main() -> None:
    """Run the benchmark and print its figures."""
    settings = temporary_settings()
    platform = open_platform(settings)
    platform.authority.init_region("630000", "青海省政务服务平台")
    uscc = uscc_with_check("11630000000000010")
    issuer = platform.authority.add_issuer(
        uscc, "青海省公安厅", "630000", [t.code for t in platform.types])
    key = platform.authority.issuer_key(issuer)
    token = TokenSession(token_config(settings))
    raw_key = token.run(lambda s: s.get_key(object_class=ObjectClass.PRIVATE_KEY,
                                            label=key.label))
    assert isinstance(raw_key, SignMixin)
    data = SAMPLES["resident-id-card"]
    office = platform.office
    for _ in range(20):
        office.issue(issuer_uscc=uscc, type_id="resident-id-card", data=data)

    def raw_sign(i: int) -> bytes:
        return bytes(raw_key.sign(hashlib.sha256(b"%d" % i).digest(), mechanism=Mechanism.ECDSA))

    def issue(_: int) -> object:
        return office.issue(issuer_uscc=uscc, type_id="resident-id-card", data=data)

    raw_rate, issue_rate = interleaved(raw_sign, issue, ISSUES, rounds=3)
    print(f"raw HSM sign (ECDSA P-256, python-pkcs11): {raw_rate:8.0f}/s")
    print(f"issue resident-id-card (ECDSA P-256):      {issue_rate:8.0f}/s")

    certificate = office.issue(issuer_uscc=uscc, type_id="resident-id-card", data=data).der
    fields = platform.types.get("resident-id-card").profile().fields
    presentation = present(certificate, fields)
    verifier = platform.verifier()
    assert verifier.verify(presentation).passed
    private = ec.generate_private_key(ec.SECP256R1())
    public = private.public_key()
    message = b"x" * 600
    signature = private.sign(message, ec.ECDSA(hashes.SHA256()))

    def raw_verify(_: int) -> None:
        public.verify(signature, message, ec.ECDSA(hashes.SHA256()))

    def verify(_: int) -> object:
        return verifier.verify(presentation)

    raw_verify_rate, verify_rate = interleaved(raw_verify, verify, VERIFIES, rounds=3)
    print(f"raw cryptography ECDSA P-256 verify:       {raw_verify_rate:8.0f}/s")
    print(f"verify presentation (default profile):     {verify_rate:8.0f}/s")

    compact = present(certificate, fields, compact=True)
    text = to_qr_text(compact)
    info = qr_code(text)
    print(f"QR (resident-id-card, default profile {', '.join(fields)}): {len(compact)} bytes "
          f"DER, {len(text)} characters, QR version {info.version}-{info.error_level}")

    sm2 = platform.authority.add_issuer(uscc_with_check("11630000000000020"), "青海省人社厅",
                                        "630000", [t.code for t in platform.types], "sm2-sm3")
    sm2_rate = rate(lambda _: office.issue(issuer_uscc=sm2.uscc, type_id="resident-id-card",
                                           data=data), 100)
    print(f"issue resident-id-card (SM2, HSM-wrapped key): {sm2_rate:6.0f}/s")
    platform.close()
    token.close()
    print(f"ratio issue/raw-sign: {issue_rate / raw_rate:.2f}")
    print(f"ratio verify/raw-verify: {verify_rate / raw_verify_rate:.2f}")


if __name__ == "__main__":
    main()
