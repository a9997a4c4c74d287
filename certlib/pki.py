"""X.509 building blocks: names, profiles, certificates and CRLs signed by HSM keys.

`cryptography`'s builders cannot sign with a key they do not hold, so certificates and
CRLs are assembled with asn1crypto and the TBS bytes are signed by the key store.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from asn1crypto import core, crl, keys, x509

from certlib import oids
from certlib.algorithms import algorithm_identifier
from certlib.errors import MalformedInput
from certlib.keys import CertlibKeyStore
from hsm import KeyRef


class IssuerAuthorisation(core.Sequence):
    """The extension naming what a department may issue: its USCC, region and types."""

    _fields = [  # noqa: RUF012 - asn1crypto's declarative spec
        ("uscc", core.PrintableString),
        ("region", core.PrintableString),
        ("certificate_types", core.SequenceOf, {"spec": core.PrintableString}),
    ]


x509.ExtensionId._map.setdefault(oids.ISSUER_AUTHORISATION, "certlib_issuer_authorisation")
x509.Extension._oid_specs.setdefault("certlib_issuer_authorisation", IssuerAuthorisation)


@dataclass(frozen=True)
class DistinguishedName:
    """The parts of a subject or issuer name certlib uses."""

    common_name: str
    organisation: str | None = None
    organisation_identifier: str | None = None
    """The unified social credit code (统一社会信用代码) of an organisation."""
    province: str | None = None
    locality: str | None = None
    country: str = "CN"

    def to_asn1(self) -> x509.Name:
        """The X.501 Name, in the conventional order C, ST, L, O, organizationIdentifier, CN."""
        parts: dict[str, str] = {"country_name": self.country}
        if self.province:
            parts["state_or_province_name"] = self.province
        if self.locality:
            parts["locality_name"] = self.locality
        if self.organisation:
            parts["organization_name"] = self.organisation
        if self.organisation_identifier:
            parts["organization_identifier"] = self.organisation_identifier
        parts["common_name"] = self.common_name
        return x509.Name.build(parts, use_printable=False)


def key_identifier(public_key: bytes) -> bytes:
    """RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits."""
    info = keys.PublicKeyInfo.load(public_key)
    bits = info["public_key"].contents[1:]  # drop the unused-bits octet
    return hashlib.sha1(bits, usedforsecurity=False).digest()


def random_serial() -> int:
    """A positive 127-bit serial number."""
    return secrets.randbits(127) | (1 << 126)


@dataclass(frozen=True)
class Profile:
    """What a certificate may do."""

    is_ca: bool
    path_length: int | None
    key_usage: frozenset[str]
    extended_key_usage: tuple[str, ...] = ()
    lifetime: timedelta = timedelta(days=365)


ROOT_CA = Profile(True, 1, frozenset({"key_cert_sign", "crl_sign"}), (), timedelta(days=20 * 365))
ISSUING_CA = Profile(True, 0, frozenset({"key_cert_sign", "crl_sign"}), (),
                     timedelta(days=10 * 365))
# Signs e-certificates (CMS) and their PDF renderings. emailProtection is listed because
# S/MIME-style CMS verifiers (openssl cms -verify) insist on it when an EKU is present.
ISSUER_SIGNING = Profile(
    False, None, frozenset({"digital_signature", "non_repudiation"}),
    (oids.KP_ECERT_SIGNING, oids.KP_DOCUMENT_SIGNING, "email_protection"),
    timedelta(days=3 * 365),
)
# Applies an electronic seal: SES and OFD signatures (SM2) and PAdES seals (ECDSA/RSA).
SEAL_SIGNING = Profile(
    False, None, frozenset({"digital_signature", "non_repudiation"}),
    (oids.KP_DOCUMENT_SIGNING, "email_protection"), timedelta(days=3 * 365),
)
# The seal-making authority (制章系统): signs SESeal structures.
SEAL_MAKING = Profile(
    False, None, frozenset({"digital_signature", "non_repudiation"}), (),
    timedelta(days=10 * 365),
)
TLS_SERVER = Profile(False, None, frozenset({"digital_signature"}), ("server_auth",),
                     timedelta(days=397))
TLS_CLIENT = Profile(False, None, frozenset({"digital_signature"}), ("client_auth",),
                     timedelta(days=397))


@dataclass(frozen=True)
class Issuer:
    """A signing authority: its key in the store and its own certificate (None: self-signed)."""

    key: KeyRef
    name: DistinguishedName
    certificate: bytes | None = None


def build_certificate(
    keystore: CertlibKeyStore,
    issuer: Issuer,
    *,
    subject: DistinguishedName,
    public_key: bytes,
    profile: Profile,
    not_before: datetime,
    not_after: datetime | None = None,
    crl_distribution_point: str | None = None,
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
    authorisation: IssuerAuthorisation | None = None,
) -> bytes:
    """A certificate (DER) for `public_key`, signed by `issuer`'s HSM key."""
    not_after = not_after or not_before + profile.lifetime
    issuer_name = (x509.Certificate.load(issuer.certificate).subject if issuer.certificate
                   else issuer.name.to_asn1())
    if issuer.certificate:
        issuer_cert = x509.Certificate.load(issuer.certificate)
        not_after = min(not_after, issuer_cert.not_valid_after)
    extensions: list[dict[str, object]] = [
        {"extn_id": "basic_constraints", "critical": True,
         "extn_value": {"ca": profile.is_ca, "path_len_constraint": profile.path_length}},
        {"extn_id": "key_usage", "critical": True, "extn_value": set(profile.key_usage)},
        {"extn_id": "key_identifier", "critical": False,
         "extn_value": key_identifier(public_key)},
        {"extn_id": "authority_key_identifier", "critical": False,
         "extn_value": {"key_identifier": key_identifier(issuer.key.public_key)}},
    ]
    if profile.extended_key_usage:
        extensions.append({"extn_id": "extended_key_usage", "critical": False,
                           "extn_value": list(profile.extended_key_usage)})
    if crl_distribution_point:
        extensions.append({
            "extn_id": "crl_distribution_points", "critical": False,
            "extn_value": [{"distribution_point": {"full_name": [x509.GeneralName(
                name="uniform_resource_identifier", value=crl_distribution_point)]}}],
        })
    alternative_names = [x509.GeneralName(name="dns_name", value=name) for name in dns_names]
    alternative_names += [
        x509.GeneralName(name="ip_address", value=address) for address in ip_addresses]
    if alternative_names:
        extensions.append({"extn_id": "subject_alt_name", "critical": False,
                           "extn_value": alternative_names})
    if authorisation is not None:
        extensions.append({"extn_id": oids.ISSUER_AUTHORISATION, "critical": False,
                           "extn_value": authorisation})
    algorithm = algorithm_identifier(issuer.key.algorithm)
    tbs = x509.TbsCertificate({
        "version": "v3",
        "serial_number": random_serial(),
        "signature": algorithm,
        "issuer": issuer_name,
        "validity": {"not_before": x509.Time({"general_time": not_before}),
                     "not_after": x509.Time({"general_time": not_after})},
        "subject": subject.to_asn1(),
        "subject_public_key_info": keys.PublicKeyInfo.load(public_key),
        "extensions": extensions,
    })
    signature = keystore.sign(issuer.key, tbs.dump())
    return bytes(x509.Certificate({
        "tbs_certificate": tbs, "signature_algorithm": algorithm, "signature_value": signature,
    }).dump())


@dataclass(frozen=True)
class RevokedEntry:
    """One revoked certificate in a CRL."""

    serial: int
    revoked_at: datetime
    reason: str = "unspecified"


def build_crl(
    keystore: CertlibKeyStore,
    issuer: Issuer,
    *,
    number: int,
    this_update: datetime,
    next_update: datetime,
    revoked: Sequence[RevokedEntry] = (),
) -> bytes:
    """A version 2 CRL (DER) signed by `issuer`'s HSM key."""
    if issuer.certificate is None:
        raise MalformedInput("a CRL issuer needs its certificate")
    issuer_certificate = x509.Certificate.load(issuer.certificate)
    algorithm = algorithm_identifier(issuer.key.algorithm)
    entries = [
        {
            "user_certificate": entry.serial,
            "revocation_date": x509.Time({"general_time": entry.revoked_at}),
            "crl_entry_extensions": [
                {"extn_id": "crl_reason", "critical": False, "extn_value": entry.reason}
            ] if entry.reason != "unspecified" else None,
        }
        for entry in revoked
    ]
    tbs = crl.TbsCertList({
        "version": "v2",
        "signature": algorithm,
        "issuer": issuer_certificate.subject,
        "this_update": x509.Time({"general_time": this_update}),
        "next_update": x509.Time({"general_time": next_update}),
        "revoked_certificates": entries or None,
        "crl_extensions": [
            {"extn_id": "crl_number", "critical": False, "extn_value": number},
            {"extn_id": "authority_key_identifier", "critical": False,
             "extn_value": {"key_identifier": key_identifier(issuer.key.public_key)}},
        ],
    })
    signature = keystore.sign(issuer.key, tbs.dump())
    return bytes(crl.CertificateList({
        "tbs_cert_list": tbs, "signature_algorithm": algorithm, "signature": signature,
    }).dump())


def issuer_authorisation(certificate: bytes) -> IssuerAuthorisation | None:
    """The issuer-authorisation extension of a certificate, if it has one."""
    for extension in x509.Certificate.load(certificate)["tbs_certificate"]["extensions"]:
        if extension["extn_id"].dotted == oids.ISSUER_AUTHORISATION:
            value = extension["extn_value"].parsed
            assert isinstance(value, IssuerAuthorisation)
            return value
    return None
