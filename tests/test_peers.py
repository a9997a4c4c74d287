"""How certd tells its own departments from other regions' (daemon.identity): by the CA key
that signed the client certificate, never by the key identifiers or the USCC it carries;
the innermost region speaks for a department; a foreign caller needs its region's CRL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from certlib.ids import uscc_with_check
from daemon.errors import RpcFailure
from daemon.identity import PEER_ROLES, Caller, PeerRecognition, foreign_caller

NOW = datetime.now(UTC)
CAs = dict[str, tuple[ec.EllipticCurvePrivateKey, bytes]]


def _name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def _ca(name: str, key_id: bytes | None = None) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    """A self-signed CA (test keys in memory: these CAs stand for other parties' HSMs);
    `key_id` forces its subject key identifier."""
    key = ec.generate_private_key(ec.SECP256R1())
    ski = x509.SubjectKeyIdentifier(key_id) if key_id else \
        x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    certificate = (x509.CertificateBuilder().subject_name(_name(name)).issuer_name(_name(name))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(NOW - timedelta(days=1))
                   .not_valid_after(NOW + timedelta(days=30))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .add_extension(ski, critical=False)
                   .sign(key, hashes.SHA256()))
    return key, certificate.public_bytes(serialization.Encoding.DER)


def _leaf(ca: tuple[ec.EllipticCurvePrivateKey, bytes], uscc: str,
          authority_key_id: bytes | None = None) -> bytes:
    key, ca_der = ca
    issuer = x509.load_der_x509_certificate(ca_der)
    aki = authority_key_id or issuer.extensions.get_extension_for_class(
        x509.SubjectKeyIdentifier).value.digest
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, uscc),
                         x509.NameAttribute(NameOID.COMMON_NAME, "示例单位")])
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer.subject)
            .public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - timedelta(days=1)).not_valid_after(NOW + timedelta(days=7))
            .add_extension(x509.AuthorityKeyIdentifier(aki, None, None), critical=False)
            .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))


@pytest.fixture(scope="module")
def cas() -> CAs:
    """This daemon's city issuing CA (630100), its province's (630000), another province's
    (620000), and a rogue CA that copies the city CA's name and key identifier."""
    city = _ca("西宁市政务服务平台 签发CA")
    city_ski = x509.load_der_x509_certificate(city[1]).extensions.get_extension_for_class(
        x509.SubjectKeyIdentifier).value.digest
    return {"630100": city, "630000": _ca("青海省政务服务平台 签发CA"),
            "620000": _ca("甘肃省政务服务平台 签发CA"),
            "rogue": _ca("西宁市政务服务平台 签发CA", key_id=city_ski)}


def _peers(cas: CAs, revoked: bool | None = False) -> PeerRecognition:
    return PeerRecognition(lambda: ["630100"], lambda: [cas["630100"][1]],
                           lambda: {"630000": (cas["630000"][1],),
                                    "620000": (cas["620000"][1],)},
                           lambda region, serial: revoked)


def test_origin_is_the_signing_key_not_the_key_identifier(cas: CAs) -> None:
    """Own, foreign and unknown client certificates; a rogue CA that copies the local CA's
    name and SKI does not make its certificates local."""
    peers = _peers(cas)
    own = uscc_with_check("11630100MB0000001")
    assert peers.origin(_leaf(cas["630100"], own)) == (True, None)
    assert peers.origin(_leaf(cas["620000"], uscc_with_check("11620000MB0000001"))) == (
        False, "620000")
    assert peers.origin(_leaf(cas["rogue"], own)) == (False, None)


def _caller(peers: PeerRecognition, der: bytes, uscc: str) -> Caller:
    local, region = peers.origin(der)
    assert not local
    return foreign_caller(asn1_x509.Certificate.load(der), region, uscc, "示例单位", peers)


def test_the_innermost_region_speaks_for_a_department(cas: CAs) -> None:
    """The province (foreign here) may send its own departments, with verifier and
    grant_user only, but not vouch for one of this city's; nor may another province."""
    peers = _peers(cas)
    provincial = uscc_with_check("11630000MB0000002")
    caller = _caller(peers, _leaf(cas["630000"], provincial), provincial)
    assert (caller.uscc, caller.region, caller.roles) == (provincial, "630000", PEER_ROLES)
    for region, uscc in (("630000", uscc_with_check("11630100MB0000003")),
                         ("620000", uscc_with_check("11630000MB0000004"))):
        with pytest.raises(RpcFailure) as refused:
            _caller(peers, _leaf(cas[region], uscc), uscc)
        assert refused.value.status is grpc.StatusCode.UNAUTHENTICATED
    rogue_uscc = uscc_with_check("11630100MB0000005")
    with pytest.raises(RpcFailure):
        _caller(peers, _leaf(cas["rogue"], rogue_uscc), rogue_uscc)


def test_a_foreign_caller_needs_a_current_crl_of_its_region(cas: CAs) -> None:
    """Revoked by its region's CRL: UNAUTHENTICATED; no current CRL at hand: UNAVAILABLE
    (try later), never accepted unchecked."""
    uscc = uscc_with_check("11620000MB0000006")
    for revoked, code in ((True, grpc.StatusCode.UNAUTHENTICATED),
                          (None, grpc.StatusCode.UNAVAILABLE)):
        peers = _peers(cas, revoked)
        with pytest.raises(RpcFailure) as refused:
            _caller(peers, _leaf(cas["620000"], uscc), uscc)
        assert refused.value.status is code
    # signed public data (TrustService) needs no CRL: two daemons fetching each other's
    # CRLs must not wait on each other
    peers = _peers(cas, None)
    der = _leaf(cas["620000"], uscc)
    accepted = foreign_caller(asn1_x509.Certificate.load(der), "620000", uscc, "示例单位",
                              peers, public=True)
    assert accepted.region == "620000"
