"""Test-only builders: X.509 certificates and CRLs whose signatures come from key-store keys.

certlib's own PKI module builds production certificates; these builders exist so the path
validation tests can make small chains (and broken ones) with real HSM keys. The encoding
is asn1crypto's; the signatures are the key store's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import crl, keys, x509

from certlib.algorithms import get_algorithm
from certlib.keys import CertlibKeyStore
from hsm import KeyRef

Signer = Callable[[bytes], bytes]


@dataclass(frozen=True)
class Issuer:
    """What signing a certificate or CRL needs: a name, a key and how to use it."""

    name: x509.Name
    spki: bytes
    sign: Signer
    signature_oid: str

    @property
    def key_id(self) -> bytes:
        """The subject key identifier of this issuer's key."""
        return key_identifier(self.spki)


def key_issuer(store: CertlibKeyStore, ref: KeyRef, name: x509.Name) -> Issuer:
    """An Issuer whose signatures come from `ref` in the key store."""
    return Issuer(
        name=name,
        spki=ref.public_key,
        sign=lambda data: store.sign(ref, data),
        signature_oid=get_algorithm(ref.algorithm).signature_oid,
    )


def dn(common_name: str) -> x509.Name:
    """A test distinguished name."""
    return x509.Name.build(
        {"country_name": "CN", "organization_name": "certlib tests", "common_name": common_name}
    )


def key_identifier(spki: bytes) -> bytes:
    """A 160-bit key identifier from the subjectPublicKey bits (RFC 7093 method 1 style)."""
    bits = keys.PublicKeyInfo.load(spki)["public_key"].dump()
    return hashlib.sha256(bits).digest()[:20]


def _time(moment: datetime) -> x509.Time:
    return x509.Time({"utc_time" if moment.year < 2050 else "general_time": moment})


def _extension(name: str, value: object, critical: bool = False) -> dict[str, object]:
    return {"extn_id": name, "critical": critical, "extn_value": value}


def make_certificate(
    issuer: Issuer | None,
    *,
    subject: x509.Name,
    spki: bytes,
    serial: int,
    not_before: datetime,
    not_after: datetime,
    ca: bool,
    path_length: int | None = None,
    key_usage: frozenset[str] = frozenset({"digital_signature", "non_repudiation"}),
    self_signer: Signer | None = None,
) -> bytes:
    """A DER certificate signed by `issuer`, or self-signed by `self_signer` when issuer=None."""
    if issuer is None:
        assert self_signer is not None
        oid = get_algorithm(_algorithm_of(spki)).signature_oid
        issuer = Issuer(name=subject, spki=spki, sign=self_signer, signature_oid=oid)
    constraints: dict[str, object] = {"ca": ca}
    if ca and path_length is not None:
        constraints["path_len_constraint"] = path_length
    extensions = [
        _extension("basic_constraints", constraints, critical=True),
        _extension("key_usage", set(key_usage), critical=True),
        _extension("key_identifier", key_identifier(spki)),
        _extension("authority_key_identifier", {"key_identifier": issuer.key_id}),
    ]
    signature_algorithm = {"algorithm": issuer.signature_oid}
    tbs = x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": serial,
            "signature": signature_algorithm,
            "issuer": issuer.name,
            "validity": {"not_before": _time(not_before), "not_after": _time(not_after)},
            "subject": subject,
            "subject_public_key_info": keys.PublicKeyInfo.load(spki),
            "extensions": extensions,
        }
    )
    signature = issuer.sign(tbs.dump())
    certificate = x509.Certificate(
        {
            "tbs_certificate": tbs,
            "signature_algorithm": signature_algorithm,
            "signature_value": signature,
        }
    )
    return bytes(certificate.dump())


def make_crl(
    issuer: Issuer,
    *,
    number: int,
    this_update: datetime,
    next_update: datetime,
    revoked: tuple[tuple[int, datetime, str], ...] = (),
) -> bytes:
    """A DER CRL by `issuer` listing (serial, revocation date, reason) entries."""
    entries = [
        {
            "user_certificate": serial,
            "revocation_date": _time(when),
            "crl_entry_extensions": [_extension("crl_reason", reason)],
        }
        for serial, when, reason in revoked
    ]
    signature_algorithm = {"algorithm": issuer.signature_oid}
    tbs = crl.TbsCertList(
        {
            "version": "v2",
            "signature": signature_algorithm,
            "issuer": issuer.name,
            "this_update": _time(this_update),
            "next_update": _time(next_update),
            "revoked_certificates": entries,
            "crl_extensions": [
                _extension("crl_number", number),
                _extension("authority_key_identifier", {"key_identifier": issuer.key_id}),
            ],
        }
    )
    signature = issuer.sign(tbs.dump())
    listing = crl.CertificateList(
        {"tbs_cert_list": tbs, "signature_algorithm": signature_algorithm, "signature": signature}
    )
    return bytes(listing.dump())


def flip_last_byte(der: bytes) -> bytes:
    """The same DER with the last signature byte changed: it parses, but does not verify."""
    return der[:-1] + bytes([der[-1] ^ 0x01])


def _algorithm_of(spki: bytes) -> str:
    parameters = keys.PublicKeyInfo.load(spki)["algorithm"]["parameters"]
    if parameters.name == "named" and parameters.chosen.dotted == "1.2.156.10197.1.301":
        return "sm2-sm3"
    return "ecdsa-p256-sha256"
