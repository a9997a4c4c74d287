"""Path validation of SM2-with-SM3 chains: HSM-made, third-party (ofdrw), and malformed input.

The HSM-made chain is root -> intermediate -> leaf, every certificate and CRL signed with
SM2 keys in the SoftHSM2 key store. The third-party chain is the OFD R&W test PKI from
ofdrw (its root comes out of ROOT.p12 through `openssl pkcs12 -legacy`).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from asn1crypto import core, crl, pem, x509
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certlib.chain import (
    SM2_SM3_OID,
    PathResult,
    async_validate_path,
    validate_path,
)
from certlib.errors import CertlibError, InputError, MalformedInput
from certlib.keys import CertlibKeyStore
from tests.chain_support import (
    Issuer,
    dn,
    flip_last_byte,
    key_issuer,
    make_certificate,
    make_crl,
)

MOMENT = datetime(2025, 7, 1, tzinfo=UTC)
CA_USAGE = frozenset({"key_cert_sign", "crl_sign"})


@dataclass(frozen=True)
class Pki:
    """A small SM2 PKI made with key-store keys, valid around MOMENT."""

    root: bytes
    intermediate: bytes
    leaf: bytes
    revoked_leaf: bytes
    root_crl: bytes
    intermediate_crl: bytes
    intermediate_issuer: Issuer
    ecdsa_intermediate: bytes
    ecdsa_issuer: Issuer

    @property
    def crls(self) -> list[bytes]:
        """Both CRLs."""
        return [self.root_crl, self.intermediate_crl]


def _when(year: int, month: int = 1, day: int = 1) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


@pytest.fixture(scope="module")
def pki(keystore: CertlibKeyStore) -> Pki:
    """Root (2024-2044) -> intermediate (2024-2034) -> leaves (2025-2027), CRLs 2025-06..2026-06."""
    prefix = f"chain-{uuid.uuid4().hex[:8]}"
    root_key = keystore.generate("sm2-sm3", f"{prefix}-root")
    mid_key = keystore.generate("sm2-sm3", f"{prefix}-mid")
    leaf_key = keystore.generate("sm2-sm3", f"{prefix}-leaf")
    ecdsa_key = keystore.generate("ecdsa-p256-sha256", f"{prefix}-ecdsa")
    root = make_certificate(
        None, subject=dn("SM2 Test Root"), spki=root_key.public_key, serial=1,
        not_before=_when(2024), not_after=_when(2044), ca=True, key_usage=CA_USAGE,
        self_signer=lambda data: keystore.sign(root_key, data),
    )
    root_issuer = key_issuer(keystore, root_key, dn("SM2 Test Root"))
    intermediate = make_certificate(
        root_issuer, subject=dn("SM2 Test Issuing CA"), spki=mid_key.public_key, serial=2,
        not_before=_when(2024), not_after=_when(2034), ca=True, path_length=0,
        key_usage=CA_USAGE,
    )
    mid_issuer = key_issuer(keystore, mid_key, dn("SM2 Test Issuing CA"))
    leaf = make_certificate(
        mid_issuer, subject=dn("Department signing key"), spki=leaf_key.public_key,
        serial=100, not_before=_when(2025), not_after=_when(2027), ca=False,
    )
    revoked_leaf = make_certificate(
        mid_issuer, subject=dn("Department signing key"), spki=leaf_key.public_key,
        serial=101, not_before=_when(2025), not_after=_when(2027), ca=False,
    )
    # An intermediate with an ECDSA key, under the same SM2 root.
    ecdsa_intermediate = make_certificate(
        root_issuer, subject=dn("ECDSA Issuing CA"), spki=ecdsa_key.public_key, serial=3,
        not_before=_when(2024), not_after=_when(2034), ca=True, key_usage=CA_USAGE,
    )
    return Pki(
        root=root,
        intermediate=intermediate,
        leaf=leaf,
        revoked_leaf=revoked_leaf,
        root_crl=make_crl(root_issuer, number=1, this_update=_when(2025, 6),
                          next_update=_when(2026, 6)),
        intermediate_crl=make_crl(
            mid_issuer, number=7, this_update=_when(2025, 6), next_update=_when(2026, 6),
            revoked=((101, _when(2025, 3), "key_compromise"),),
        ),
        intermediate_issuer=mid_issuer,
        ecdsa_intermediate=ecdsa_intermediate,
        ecdsa_issuer=key_issuer(keystore, ecdsa_key, dn("ECDSA Issuing CA")),
    )


def _validate(pki: Pki, leaf: bytes, **options: object) -> PathResult:
    arguments: dict[str, object] = {
        "trust_anchors": [pki.root],
        "intermediates": [pki.intermediate, pki.ecdsa_intermediate],
        "moment": MOMENT,
        "crls": pki.crls,
    }
    arguments.update(options)
    return validate_path(leaf, **arguments)  # type: ignore[arg-type]


# -- the HSM-made SM2 chain --------------------------------------------------------------


def test_every_certificate_and_crl_is_sm2_signed(pki: Pki) -> None:
    """The fixture really is SM2 throughout (else the tests below prove nothing)."""
    for der in (pki.root, pki.intermediate, pki.leaf):
        certificate = x509.Certificate.load(der)
        assert certificate["signature_algorithm"]["algorithm"].dotted == SM2_SM3_OID
        parameters = certificate.public_key["algorithm"]["parameters"]
        assert parameters.chosen.dotted == "1.2.156.10197.1.301"
    for der in pki.crls:
        listing = crl.CertificateList.load(der)
        assert listing["signature_algorithm"]["algorithm"].dotted == SM2_SM3_OID


def test_sm2_chain_validates_with_crls(pki: Pki) -> None:
    """Every signature and both CRLs check out; the path runs leaf to anchor."""
    result = _validate(pki, pki.leaf, revocation="require")
    assert result.ok, result.message
    assert result.indication == "PASSED"
    assert result.sub_indication is None
    assert result.path == (pki.leaf, pki.intermediate, pki.root)


def _openssl(cwd: Path, *args: str) -> None:
    run = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, check=False)
    assert run.returncode == 0, run.stderr.decode(errors="replace")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI missing")
@pytest.mark.parametrize(("leaf_id", "valid"), [("1234567812345678", True), (None, False)])
def test_openssl_made_sm2_chain(tmp_path: Path, leaf_id: str | None, valid: bool) -> None:
    """SM2 certificates from an independent producer (the openssl CLI) validate here.

    OpenSSL 3.0 signs SM2 with an empty user id unless told the default one; a leaf signed
    that way does not verify under GM/T 0015's default id, and certlib says so.
    """
    sm2_id = ["-sigopt", "distid:1234567812345678"]
    leaf_sigopt = ["-sigopt", f"distid:{leaf_id}"] if leaf_id else []
    _openssl(tmp_path, "genpkey", "-algorithm", "SM2", "-out", "root.key")
    _openssl(tmp_path, "genpkey", "-algorithm", "SM2", "-out", "leaf.key")
    _openssl(tmp_path, "req", "-x509", "-new", "-key", "root.key", "-sm3", *sm2_id,
             "-subj", "/CN=OpenSSL SM2 Root", "-days", "30",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", "root.pem")
    _openssl(tmp_path, "req", "-new", "-key", "leaf.key", "-sm3", *sm2_id,
             "-subj", "/CN=OpenSSL SM2 Leaf", "-out", "leaf.csr")
    _openssl(tmp_path, "x509", "-req", "-in", "leaf.csr", "-CA", "root.pem", "-CAkey",
             "root.key", "-sm3", *leaf_sigopt, "-vfyopt", "distid:1234567812345678",
             "-days", "10", "-set_serial", "5", "-out", "leaf.pem")
    root = pem.unarmor((tmp_path / "root.pem").read_bytes())[2]
    leaf = pem.unarmor((tmp_path / "leaf.pem").read_bytes())[2]
    result = validate_path(
        leaf, trust_anchors=[root], moment=datetime.now(UTC), revocation="off"
    )
    assert result.ok is valid, result.message
    if not valid:
        assert result.sub_indication == "SIG_CRYPTO_FAILURE"


def test_revoked_leaf_reports_date_and_reason(pki: Pki) -> None:
    """The intermediate's SM2-signed CRL revokes serial 101 as of 2025-03-01."""
    result = _validate(pki, pki.revoked_leaf)
    assert not result.ok
    assert result.sub_indication == "REVOKED"
    assert result.indication == "FAILED"
    assert result.revocation_date == _when(2025, 3)
    assert result.revocation_reason == "key_compromise"
    assert "end-entity" in result.message


def test_revocation_after_the_moment_does_not_count(pki: Pki) -> None:
    """At a moment before the revocation date, a later CRL (retroactive) says: not revoked."""
    before = _when(2025, 2)
    assert _validate(pki, pki.revoked_leaf, moment=before, retroactive_crls=True).ok
    late = _validate(pki, pki.revoked_leaf, moment=before)
    assert late.sub_indication == "TRY_LATER"  # the CRL was issued after the moment


def test_tampered_leaf_signature(pki: Pki) -> None:
    """One changed bit of the leaf's SM2 signature: SIG_CRYPTO_FAILURE, FAILED."""
    result = _validate(pki, flip_last_byte(pki.leaf))
    assert result.sub_indication == "SIG_CRYPTO_FAILURE"
    assert result.indication == "FAILED"
    assert "end-entity" in result.message


def test_tampered_intermediate_signature(pki: Pki) -> None:
    """A broken CA signature is reported on the CA certificate."""
    result = _validate(pki, pki.leaf, intermediates=[flip_last_byte(pki.intermediate)])
    assert result.sub_indication == "SIG_CRYPTO_FAILURE"
    assert "CA certificate" in result.message


def test_tampered_crl_leaves_status_unknown(pki: Pki) -> None:
    """A CRL whose SM2 signature fails is no revocation information: TRY_LATER."""
    result = _validate(pki, pki.leaf, crls=[pki.root_crl, flip_last_byte(pki.intermediate_crl)])
    assert result.sub_indication == "TRY_LATER"
    assert result.indication == "INDETERMINATE"


def test_missing_crl_depends_on_revocation_mode(pki: Pki) -> None:
    """Without the issuing CA's CRL: require says TRY_LATER; soft-fail and off pass."""
    assert _validate(pki, pki.leaf, crls=[pki.root_crl]).sub_indication == "TRY_LATER"
    assert _validate(pki, pki.leaf, crls=[pki.root_crl], revocation="soft-fail").ok
    assert _validate(pki, pki.leaf, crls=[], revocation="off").ok
    assert _validate(pki, pki.revoked_leaf, revocation="off").ok


def test_stale_crl_is_try_later(pki: Pki) -> None:
    """After the CRLs' nextUpdate the status is unknown, not good."""
    result = _validate(pki, pki.leaf, moment=_when(2026, 9))
    assert result.sub_indication == "TRY_LATER"


@pytest.mark.parametrize(
    ("moment", "expected"),
    [(_when(2028), "EXPIRED"), (_when(2024, 6), "NOT_YET_VALID")],
)
def test_validity_period(pki: Pki, moment: datetime, expected: str) -> None:
    """Outside the leaf's validity period."""
    result = _validate(pki, pki.leaf, moment=moment, revocation="off")
    assert result.sub_indication == expected
    assert result.indication == "FAILED"


def test_expired_anchor(pki: Pki) -> None:
    """The root's own notAfter bounds trust in it (RFC 5937 style)."""
    result = _validate(pki, pki.leaf, moment=_when(2045), revocation="off")
    assert result.sub_indication == "EXPIRED"
    assert "trust anchor" in result.message


def test_unknown_anchor_finds_no_chain(pki: Pki, keystore: CertlibKeyStore) -> None:
    """Another SM2 root is no anchor for this chain."""
    other_key = keystore.generate("sm2-sm3", f"chain-other-{uuid.uuid4().hex[:8]}")
    other_root = make_certificate(
        None, subject=dn("Another SM2 Root"), spki=other_key.public_key, serial=1,
        not_before=_when(2024), not_after=_when(2044), ca=True, key_usage=CA_USAGE,
        self_signer=lambda data: keystore.sign(other_key, data),
    )
    result = _validate(pki, pki.leaf, trust_anchors=[other_root])
    assert result.sub_indication == "NO_CERTIFICATE_CHAIN_FOUND"
    assert result.indication == "INDETERMINATE"
    assert result.path == (pki.leaf,)


def test_key_usage_requirement(pki: Pki) -> None:
    """The leaf has digitalSignature and nonRepudiation, not keyEncipherment."""
    assert _validate(pki, pki.leaf, key_usage={"non_repudiation"}).ok
    result = _validate(pki, pki.leaf, key_usage={"key_encipherment"})
    assert result.sub_indication == "CHAIN_CONSTRAINTS_FAILURE"
    with pytest.raises(InputError):
        _validate(pki, pki.leaf, key_usage={"nonRepudiation"})


def test_max_intermediates(pki: Pki) -> None:
    """A path with one intermediate fails a limit of zero."""
    assert _validate(pki, pki.leaf, max_intermediates=1).ok
    result = _validate(pki, pki.leaf, max_intermediates=0)
    assert result.sub_indication == "CHAIN_CONSTRAINTS_FAILURE"


def test_sm2_oid_over_an_ecdsa_key_does_not_verify(pki: Pki, keystore: CertlibKeyStore) -> None:
    """A certificate labelled SM2-with-SM3 whose issuer key is ECDSA cannot verify."""
    mislabelled = Issuer(
        name=pki.ecdsa_issuer.name, spki=pki.ecdsa_issuer.spki, sign=pki.ecdsa_issuer.sign,
        signature_oid=SM2_SM3_OID,
    )
    leaf_key = keystore.generate("sm2-sm3", f"chain-mis-{uuid.uuid4().hex[:8]}")
    leaf = make_certificate(
        mislabelled, subject=dn("Mislabelled"), spki=leaf_key.public_key, serial=9,
        not_before=_when(2025), not_after=_when(2027), ca=False,
    )
    result = _validate(pki, leaf, revocation="off")
    assert result.sub_indication == "SIG_CRYPTO_FAILURE"


def test_ecdsa_oid_over_an_sm2_key_cannot_be_verified(pki: Pki, keystore: CertlibKeyStore) -> None:
    """The reverse: ecdsa-with-SHA256 claimed for an SM2 key is an unverifiable algorithm."""
    mislabelled = Issuer(
        name=pki.intermediate_issuer.name, spki=pki.intermediate_issuer.spki,
        sign=pki.intermediate_issuer.sign, signature_oid="1.2.840.10045.4.3.2",
    )
    leaf_key = keystore.generate("ecdsa-p256-sha256", f"chain-mis-{uuid.uuid4().hex[:8]}")
    leaf = make_certificate(
        mislabelled, subject=dn("Mislabelled"), spki=leaf_key.public_key, serial=10,
        not_before=_when(2025), not_after=_when(2027), ca=False,
    )
    result = _validate(pki, leaf, revocation="off")
    assert result.sub_indication == "CRYPTO_CONSTRAINTS_FAILURE"


def test_ecdsa_intermediate_under_an_sm2_root(pki: Pki, keystore: CertlibKeyStore) -> None:
    """Mixed chains work: the SM2 hook and pyhanko-certvalidator's default side by side."""
    leaf_key = keystore.generate("ecdsa-p256-sha256", f"chain-mixed-{uuid.uuid4().hex[:8]}")
    leaf = make_certificate(
        pki.ecdsa_issuer, subject=dn("Mixed leaf"), spki=leaf_key.public_key, serial=11,
        not_before=_when(2025), not_after=_when(2027), ca=False,
    )
    result = _validate(pki, leaf, revocation="off")
    assert result.ok, result.message
    assert result.path == (leaf, pki.ecdsa_intermediate, pki.root)


def test_async_form_and_sync_form_inside_an_event_loop(pki: Pki) -> None:
    """The coroutine answers like the function; the function also works under a running loop."""

    async def both() -> tuple[PathResult, PathResult]:
        awaited = await async_validate_path(
            pki.leaf, trust_anchors=[pki.root], intermediates=[pki.intermediate],
            moment=MOMENT, crls=pki.crls,
        )
        return awaited, _validate(pki, pki.leaf)

    awaited, nested = asyncio.run(both())
    assert awaited == nested
    assert awaited.ok


def test_naive_moment_is_an_input_error(pki: Pki) -> None:
    """A moment without a time zone is ambiguous."""
    with pytest.raises(InputError):
        _validate(pki, pki.leaf, moment=datetime(2025, 7, 1))
    with pytest.raises(InputError):
        _validate(pki, pki.leaf, revocation="hard")


# -- third-party SM2 certificates (ofdrw) -----------------------------------------------


def _p12_certificate(path: Path, password: str) -> bytes:
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI missing")
    run = subprocess.run(
        ["openssl", "pkcs12", "-legacy", "-in", str(path), "-passin", f"pass:{password}",
         "-nokeys", "-clcerts"],
        capture_output=True, check=False,
    )
    if run.returncode != 0:
        pytest.skip(f"openssl cannot open the legacy p12: {run.stderr[:200]!r}")
    _, _, der = pem.unarmor(run.stdout[run.stdout.index(b"-----BEGIN"):])
    return bytes(der)


@pytest.fixture(scope="module")
def ofdrw(testdata: Path) -> dict[str, bytes]:
    """The OFD R&W test PKI: ROOT and three certificates it issued."""
    keys = testdata / "ofdrw" / "keys"
    _, _, sign_cert = pem.unarmor((keys / "sign_cert.pem").read_bytes())
    return {
        "root": _p12_certificate(keys / "ROOT.p12", "123456"),
        "user": _p12_certificate(keys / "USER.p12", "777777"),
        "sealbuilder": _p12_certificate(keys / "SealBuilder.p12", "777777"),
        "sign_cert": bytes(sign_cert),
    }


@pytest.mark.parametrize(
    ("name", "moment"),
    [("user", _when(2021, 6)), ("sealbuilder", _when(2021, 6)), ("sign_cert", _when(2022, 6))],
)
def test_ofdrw_sm2_certificates_chain_to_their_root(
    ofdrw: dict[str, bytes], name: str, moment: datetime
) -> None:
    """Real third-party SM2 signatures by the OFD R&W root verify (it publishes no CRLs)."""
    certificate = x509.Certificate.load(ofdrw[name])
    assert certificate["signature_algorithm"]["algorithm"].dotted == SM2_SM3_OID
    result = validate_path(
        ofdrw[name], trust_anchors=[ofdrw["root"]], moment=moment, revocation="off"
    )
    assert result.ok, result.message
    assert result.path == (ofdrw[name], ofdrw["root"])
    strict = validate_path(ofdrw[name], trust_anchors=[ofdrw["root"]], moment=moment)
    assert strict.sub_indication == "TRY_LATER"


def test_ofdrw_certificate_expired_and_tampered(ofdrw: dict[str, bytes]) -> None:
    """The same certificate after its notAfter, and with one signature bit changed."""
    expired = validate_path(
        ofdrw["user"], trust_anchors=[ofdrw["root"]], moment=_when(2023), revocation="off"
    )
    assert expired.sub_indication == "EXPIRED"
    tampered = validate_path(
        flip_last_byte(ofdrw["user"]), trust_anchors=[ofdrw["root"]], moment=_when(2021, 6),
        revocation="off",
    )
    assert tampered.sub_indication == "SIG_CRYPTO_FAILURE"


def test_tax_bureau_signer_has_no_chain_here(testdata: Path, ofdrw: dict[str, bytes]) -> None:
    """v4signed_signer.cer is SM2-signed by 税务测试CA2(SM2), whose certificate we do not have."""
    certs = testdata / "ofdrw" / "certs"
    signer = (certs / "v4signed_signer.cer").read_bytes()
    seal_maker = (certs / "v4signed_sealmaker.cer").read_bytes()
    certificate = x509.Certificate.load(signer)
    assert certificate["signature_algorithm"]["algorithm"].dotted == SM2_SM3_OID
    result = validate_path(
        signer, trust_anchors=[ofdrw["root"], seal_maker], intermediates=[seal_maker],
        moment=_when(2024), revocation="off",
    )
    assert result.sub_indication == "NO_CERTIFICATE_CHAIN_FOUND"
    # Its own anchor is trusted as itself, nothing more.
    assert validate_path(signer, trust_anchors=[signer], moment=_when(2024), revocation="off").ok


# -- malformed input -----------------------------------------------------------------------


def _positions(pki: Pki, bad: bytes) -> list[dict[str, object]]:
    """The same bad bytes as end entity, anchor, intermediate and CRL."""
    return [
        {"end_entity": bad},
        {"end_entity": pki.leaf, "trust_anchors": [bad]},
        {"end_entity": pki.leaf, "intermediates": [pki.intermediate, bad]},
        {"end_entity": pki.leaf, "crls": [pki.root_crl, bad]},
    ]


def _call(pki: Pki, arguments: dict[str, object]) -> PathResult | CertlibError:
    options: dict[str, object] = {
        "end_entity": pki.leaf, "trust_anchors": [pki.root], "intermediates": [pki.intermediate],
        "moment": MOMENT, "crls": pki.crls,
    }
    options.update(arguments)
    end_entity = options.pop("end_entity")
    try:
        return validate_path(end_entity, **options)  # type: ignore[arg-type]
    except CertlibError as error:
        return error


def _nested(depth: int) -> bytes:
    body = b""
    for _ in range(depth):
        body = b"\x30" + _der_length(len(body)) + body
    return body


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


BAD_INPUTS = {
    "empty": b"",
    "garbage": os.urandom(64),
    "zeros": bytes(300),
    "truncated-sequence": b"\x30\x82\x01\x00\x30",
    "deeply-nested": _nested(3000),
    "indefinite-length": b"\x30\x80" * 2000,
    "huge-length": b"\x30\x84\xff\xff\xff\xff" + b"\x00" * 16,
    "pem-not-der": b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
}


@pytest.mark.parametrize("kind", sorted(BAD_INPUTS))
def test_garbage_in_every_position_raises_malformed_input(pki: Pki, kind: str) -> None:
    """Garbage as end entity, anchor, intermediate or CRL: MalformedInput, quickly."""
    for arguments in _positions(pki, BAD_INPUTS[kind]):
        started = time.monotonic()
        outcome = _call(pki, arguments)
        assert time.monotonic() - started < 2
        assert isinstance(outcome, MalformedInput), (kind, list(arguments), outcome)


def test_truncations_of_every_input_raise_malformed_input(pki: Pki) -> None:
    """Every 7th prefix of each real certificate and CRL, in its own position."""
    for good, key in ((pki.leaf, "end_entity"), (pki.root, "trust_anchors"),
                      (pki.intermediate, "intermediates"), (pki.intermediate_crl, "crls")):
        for cut in range(0, len(good) - 1, 7):
            bad = good[:cut]
            value: object = bad if key == "end_entity" else [bad]
            outcome = _call(pki, {key: value})
            assert isinstance(outcome, MalformedInput), (key, cut, outcome)


def test_non_bytes_is_an_input_error(pki: Pki) -> None:
    """Text where DER belongs is the caller's mistake."""
    outcome = _call(pki, {"end_entity": "MIIB..."})
    assert isinstance(outcome, InputError)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_mutated_der_raises_only_certlib_errors(pki: Pki, data: st.DataObject) -> None:
    """Random byte edits of real inputs: a PathResult or a CertlibError, never anything else."""
    which = data.draw(st.sampled_from(["leaf", "intermediate", "root", "intermediate_crl"]))
    good = bytearray(getattr(pki, which))
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(good) - 1))
        good[index] = data.draw(st.integers(0, 255))
    bad = bytes(good)
    key = {"leaf": "end_entity", "intermediate": "intermediates", "root": "trust_anchors",
           "intermediate_crl": "crls"}[which]
    value: object = bad if key == "end_entity" else [bad]
    started = time.monotonic()
    outcome = _call(pki, {key: value})
    assert time.monotonic() - started < 2
    assert isinstance(outcome, PathResult | CertlibError)
    if isinstance(outcome, PathResult) and which != "root":
        # An edit may land outside the signed bytes (the outer signature algorithm, say);
        # an edit inside them must never validate. The anchor is trusted as given.
        assert not outcome.ok or not _inside_signed_part(getattr(pki, which), bad)


def _inside_signed_part(good: bytes, bad: bytes) -> bool:
    """True when `bad` differs from `good` within the TBS bytes."""
    outer = core.Sequence.load(good)
    first = outer[0].dump()
    start = len(outer.dump()) - len(outer.contents)
    return bad[start:start + len(first)] != good[start:start + len(first)]
