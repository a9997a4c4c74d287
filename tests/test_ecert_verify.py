"""Verification answers: every tampering, time, status and authorisation case gets its report."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from asn1crypto import cms, x509

from certlib import ecert, oids
from certlib.cms import EnvelopeSigner
from certlib.errors import CertlibError, KeyNotUsableError
from certlib.issuance import CertificateOffice, IssuedCertificate, IssuerNotAuthorised
from certlib.platform import Platform
from certlib.present import HolderSigner, load_certificate, present
from certlib.report import Indication, SubIndication, ValidationReport
from certlib.status import CertificateStatus, StatusAnswer
from certlib.store.schema import certificates
from certlib.verify import BindingExpectation, Verifier
from tests.conftest import Departments
from tests.ecert_support import (
    flip_byte,
    rebuild,
    replace_field,
    replace_signed_object,
    signed_data,
)
from tests.samples import SAMPLES, ZHANG_SAN

ECDSA = "ecdsa-p256-sha256"


def _issue(platform: Platform, departments: Departments, algorithm: str = ECDSA,
           type_id: str = "resident-id-card", **changes: object) -> IssuedCertificate:
    data = {**SAMPLES[type_id], **changes}
    return platform.office.issue(issuer_uscc=departments.by_algorithm[algorithm],
                                 type_id=type_id, data=data)


def _expect(report: ValidationReport, indication: Indication,
            sub: SubIndication | None) -> None:
    assert (report.indication, report.sub_indication) == (indication, sub), report.to_dict(
        include_disclosed=False)
    if indication is not Indication.PASSED:
        assert report.disclosed == {}


# -- tampering ---------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", [ECDSA, "sm2-sm3"])
def test_tampered_field_value_or_salt(platform: Platform, departments: Departments,
                                      algorithm: str) -> None:
    """A changed value or salt no longer matches its signed digest: HASH_FAILURE."""
    issued = _issue(platform, departments, algorithm)
    verifier = platform.verifier()
    _expect(verifier.verify(issued.der), Indication.PASSED, None)
    changed_value = replace_field(issued.der, "name", value="李四")
    _expect(verifier.verify(changed_value), Indication.FAILED, SubIndication.HASH_FAILURE)
    changed_salt = replace_field(issued.der, "address", salt=os.urandom(16))
    _expect(verifier.verify(changed_salt), Indication.FAILED, SubIndication.HASH_FAILURE)
    shown = present(changed_value, ["name"])
    _expect(verifier.verify(shown), Indication.FAILED, SubIndication.HASH_FAILURE)


def test_tampered_digest_in_the_security_object(platform: Platform,
                                                departments: Departments) -> None:
    """Editing the signed security object breaks the message digest: HASH_FAILURE."""
    issued = _issue(platform, departments)
    info, signed = signed_data(issued.der)
    content = bytearray(signed["encap_content_info"]["content"].native)
    content[-5] ^= 0x01  # inside the last field digest
    signed["encap_content_info"] = {"content_type": oids.CERTIFICATE_SECURITY_OBJECT,
                                    "content": bytes(content)}
    tampered = replace_signed_object(issued.der, rebuild(info, signed))
    _expect(platform.verifier().verify(tampered), Indication.FAILED, SubIndication.HASH_FAILURE)


@pytest.mark.parametrize("algorithm", [ECDSA, "rsa-pss-sha256", "ed25519", "sm2-sm3"])
def test_tampered_signed_attribute_or_signature(platform: Platform, departments: Departments,
                                                algorithm: str) -> None:
    """A changed signing time or signature byte: SIG_CRYPTO_FAILURE."""
    issued = _issue(platform, departments, algorithm)
    info, signed = signed_data(issued.der)
    signer = signed["signer_infos"][0]
    attributes = signer["signed_attrs"]
    for attribute in attributes:
        if attribute["type"].native == "signing_time":
            attribute["values"] = [cms.Time({"generalized_time": datetime(2020, 1, 1,
                                                                         tzinfo=UTC)})]
    later_time = replace_signed_object(issued.der, rebuild(info, signed))
    _expect(platform.verifier().verify(later_time), Indication.FAILED,
            SubIndication.SIG_CRYPTO_FAILURE)
    info, signed = signed_data(issued.der)
    signature = signed["signer_infos"][0]["signature"].native
    signed["signer_infos"][0]["signature"] = flip_byte(signature, len(signature) // 2)
    broken = replace_signed_object(issued.der, rebuild(info, signed))
    _expect(platform.verifier().verify(broken), Indication.FAILED,
            SubIndication.SIG_CRYPTO_FAILURE)


def test_swapped_or_altered_signer_certificate(platform: Platform,
                                               departments: Departments) -> None:
    """An altered signer certificate fails ESS; an altered CA certificate fails the chain;
    another department's certificate fails the signature."""
    issued = _issue(platform, departments)
    own = platform.authority.issuer(departments.by_algorithm[ECDSA]).certificate
    other = platform.authority.issuer(departments.by_algorithm["rsa-pss-sha256"]).certificate
    verifier = platform.verifier()
    for target, expected in ((own, SubIndication.SIG_CONSTRAINTS_FAILURE),
                             (platform.authority.region("630000").issuing_certificate,
                              SubIndication.SIG_CRYPTO_FAILURE)):
        info, signed = signed_data(issued.der)
        altered = flip_byte(target, len(target) - 3)  # inside the certificate's signature
        signed["certificates"] = [
            cms.CertificateChoices.load(altered) if choice.chosen.dump() == target else choice
            for choice in signed["certificates"]]
        _expect(verifier.verify(replace_signed_object(issued.der, rebuild(info, signed))),
                Indication.FAILED, expected)
    # The department's own certificate replaced by another department's, same serial lookup:
    info, signed = signed_data(issued.der)
    other_choice = cms.CertificateChoices.load(
        cms.CertificateChoices(name="certificate", value=x509.Certificate.load(other))
        .dump())
    signed["certificates"] = [other_choice]
    signer = signed["signer_infos"][0]
    signer["sid"] = cms.SignerIdentifier(name="issuer_and_serial_number", value={
        "issuer": other_choice.chosen.issuer, "serial_number": other_choice.chosen.serial_number})
    _expect(verifier.verify(replace_signed_object(issued.der, rebuild(info, signed))),
            Indication.FAILED, SubIndication.SIG_CRYPTO_FAILURE)


# -- time and status ---------------------------------------------------------------------------


def test_not_yet_valid_and_expired(platform: Platform, departments: Departments) -> None:
    """Validity periods in the future or in the past give NOT_YET_VALID / EXPIRED."""
    verifier = platform.verifier()
    future = _issue(platform, departments, valid_from="2027-01-01", valid_until="2037-01-01")
    _expect(verifier.verify(future.der), Indication.FAILED, SubIndication.NOT_YET_VALID)
    expired = _issue(platform, departments, valid_from="2010-01-01", valid_until="2020-01-01")
    _expect(verifier.verify(expired.der), Indication.FAILED, SubIndication.EXPIRED)
    valid = _issue(platform, departments)
    moment = datetime.now(UTC) + timedelta(days=1)
    _expect(verifier.verify(valid.der, at=moment), Indication.PASSED, None)


def test_revoked_suspended_resumed(platform: Platform, departments: Departments) -> None:
    """Status changes show at once in the report; revoked is for good."""
    issued = _issue(platform, departments)
    office, verifier = platform.office, platform.verifier()
    shown = present(issued.der, ["name"])
    office.suspend(issued.identifier)
    _expect(verifier.verify(shown), Indication.FAILED, SubIndication.SUSPENDED)
    office.resume(issued.identifier)
    _expect(verifier.verify(shown), Indication.PASSED, None)
    office.revoke(issued.identifier)
    _expect(verifier.verify(shown), Indication.FAILED, SubIndication.REVOKED)
    with pytest.raises(CertlibError):
        office.resume(issued.identifier)
    _expect(verifier.verify(shown), Indication.FAILED, SubIndication.REVOKED)


class _Unknown:
    def status(self, list_uri: str, index: int, at: datetime) -> StatusAnswer:
        return StatusAnswer(CertificateStatus.UNKNOWN, at, "test", detail="no answer")


def test_unknown_status_is_never_passed(platform: Platform, departments: Departments) -> None:
    """No status source, or one that does not know: INDETERMINATE / TRY_LATER."""
    issued = _issue(platform, departments)
    trust = platform.trust_material()
    _expect(Verifier(trust).verify(issued.der), Indication.INDETERMINATE,
            SubIndication.TRY_LATER)
    _expect(Verifier(trust, _Unknown()).verify(issued.der), Indication.INDETERMINATE,
            SubIndication.TRY_LATER)


def test_without_trust_anchor_there_is_no_chain(platform: Platform,
                                                departments: Departments) -> None:
    """Trusting only the other region's root: no path, never PASSED."""
    issued = _issue(platform, departments)
    material = platform.trust_material()
    material.anchors = [platform.authority.region("620000").root_certificate]
    report = Verifier(material, platform.verifier().status).verify(issued.der)
    assert report.indication is Indication.INDETERMINATE
    assert report.sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND


def test_a_root_may_vouch_only_for_its_own_region(platform: Platform,
                                                  departments: Departments) -> None:
    """With anchors told apart by region, a department certificate that chains to the root
    of another region than the one it names is refused (NOT_AUTHORISED), as is one whose
    root belongs to no known region; told apart rightly, the same certificate passes."""
    issued = _issue(platform, departments)
    status = platform.verifier().status
    material = platform.trust_material()
    assert Verifier(material, status).verify(issued.der).passed
    named = Verifier(material, status).verify(issued.der).subject["issuer"]["region"]
    root = platform.authority.region(named).root_certificate
    material.anchor_regions[root] = "620000" if named != "620000" else "630000"
    report = Verifier(material, status).verify(issued.der)
    _expect(report, Indication.FAILED, SubIndication.NOT_AUTHORISED)
    assert "chains to region" in next(c.detail for c in report.checks
                                      if c.name == "issuer-authorisation")
    del material.anchor_regions[root]
    report = Verifier(material, status).verify(issued.der)
    _expect(report, Indication.FAILED, SubIndication.NOT_AUTHORISED)


def test_missing_crl_is_try_later(platform: Platform, departments: Departments) -> None:
    """Without the issuing CA's CRL the department's certificate status is unknown."""
    issued = _issue(platform, departments)
    material = platform.trust_material()
    material.crls = []
    report = Verifier(material, platform.verifier().status).verify(issued.der)
    assert (report.indication, report.sub_indication) == (Indication.INDETERMINATE,
                                                          SubIndication.TRY_LATER)


def test_revoked_department_certificate(platform: Platform, departments: Departments) -> None:
    """A department whose certificate the region revoked: its certificates fail REVOKED."""
    from certlib.ids import uscc_with_check

    uscc = uscc_with_check("11630000000000770")
    platform.authority.add_issuer(uscc, "青海省将撤销厅", "630000",
                                  [platform.types.get("resident-id-card").code])
    issued = platform.office.issue(issuer_uscc=uscc, type_id="resident-id-card",
                                   data=SAMPLES["resident-id-card"])
    assert platform.verifier().verify(issued.der).passed
    platform.authority.revoke_issuer(uscc, "key_compromise")
    # Times have whole seconds and a revocation counts from the second after it.
    later = datetime.now(UTC) + timedelta(seconds=2)
    _expect(platform.verifier().verify(issued.der, at=later), Indication.FAILED,
            SubIndication.REVOKED)
    with pytest.raises(IssuerNotAuthorised):
        platform.office.issue(issuer_uscc=uscc, type_id="resident-id-card",
                              data=SAMPLES["resident-id-card"])


# -- authorisation -----------------------------------------------------------------------------


def _count(platform: Platform) -> int:
    with platform.store.transaction() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(certificates))
                   .scalar_one())


def test_department_not_authorised_for_the_type(platform: Platform,
                                                departments: Departments) -> None:
    """The office refuses and writes nothing; a hand-made one fails NOT_AUTHORISED."""
    before = _count(platform)
    with pytest.raises(IssuerNotAuthorised):
        platform.office.issue(issuer_uscc=departments.limited, type_id="resident-id-card",
                              data=SAMPLES["resident-id-card"])
    assert _count(platform) == before
    genuine = _issue(platform, departments)
    security_object = ecert.CertificateSecurityObject.load(
        EnvelopeContent.of(genuine.der))
    issuer = platform.authority.issuer(departments.limited)
    forged_cso = ecert.CertificateSecurityObject.load(security_object.dump())
    forged_cso["issuer"] = {"uscc": issuer.uscc, "name": issuer.name, "region": "630000"}
    signer = EnvelopeSigner(platform.keystore, platform.authority.issuer_key(issuer),
                            certificate=issuer.certificate,
                            chain=(platform.authority.region("630000").issuing_certificate,))
    envelope = signer.sign(forged_cso.dump(force=True),
                           content_type=oids.CERTIFICATE_SECURITY_OBJECT,
                           signing_time=datetime.now(UTC).replace(microsecond=0))
    forged = replace_signed_object(genuine.der, envelope)
    report = platform.verifier().verify(forged)
    assert report.indication is Indication.FAILED
    assert report.sub_indication is SubIndication.NOT_AUTHORISED


class EnvelopeContent:
    """The security object bytes inside a certificate's envelope."""

    @staticmethod
    def of(certificate: bytes) -> bytes:
        """Content of the signed object."""
        from certlib import cms as envelopes

        return envelopes.parse(load_certificate(certificate)["signed_object"].dump()).content


# -- atomicity and protection ------------------------------------------------------------------


def test_failed_issuance_changes_nothing(platform: Platform, departments: Departments,
                                         key_name: str) -> None:
    """Bad data, or an HSM key that refuses: no row, no serial, no status index used."""
    from certlib.ids import uscc_with_check

    before = _count(platform)
    with pytest.raises(CertlibError):
        _issue(platform, departments, id_number="110105194912310021")  # bad check digit
    uscc = uscc_with_check("11630000000000880")
    platform.authority.add_issuer(uscc, "青海省停用厅", "630000",
                                  [platform.types.get("resident-id-card").code])
    platform.keystore.disable(f"issuer-{uscc}")
    with pytest.raises(KeyNotUsableError):
        platform.office.issue(issuer_uscc=uscc, type_id="resident-id-card",
                              data=SAMPLES["resident-id-card"])
    assert _count(platform) == before
    with platform.store.transaction() as connection:
        counter = connection.execute(sa.text("SELECT value FROM counters WHERE name = :n"),
                                     {"n": f"serial:{uscc}"}).first()
    assert counter is None


def test_stored_personal_data_is_sealed(platform: Platform, departments: Departments) -> None:
    """The store holds no field value in clear; the office unseals the exact certificate."""
    issued = _issue(platform, departments)
    with platform.store.transaction() as connection:
        row = connection.execute(sa.select(certificates).where(
            certificates.c.identifier == issued.identifier)).one()
    raw = b"".join(bytes(value) if isinstance(value, bytes | memoryview) else
                   str(value).encode() for value in row)
    for value in ("张三", ZHANG_SAN, "示例路"):
        assert value.encode() not in raw
    assert platform.office.get(issued.identifier).der == issued.der


def test_presentation_carries_only_disclosed_values(platform: Platform,
                                                    departments: Departments) -> None:
    """Nothing of an undisclosed field's value is in the presentation bytes."""
    issued = _issue(platform, departments)
    shown = present(issued.der, ["birth_date"])
    for secret in ("张三", "示例路", ZHANG_SAN):
        assert secret.encode() not in shown
    report = platform.verifier().verify(shown)
    assert report.passed and set(report.disclosed) == {"birth_date"}


# -- holder binding ----------------------------------------------------------------------------


def test_holder_bound_presentation(platform: Platform, departments: Departments,
                                   key_name: str) -> None:
    """Only the holder's key, for this verifier, nonce and moment, passes."""
    holder = platform.keystore.generate(ECDSA, key_name)
    issued = platform.office.issue(issuer_uscc=departments.by_algorithm[ECDSA],
                                   type_id="resident-id-card", data=SAMPLES["resident-id-card"],
                                   holder_key=holder.public_key)
    signer = HolderSigner(ECDSA, lambda data: platform.keystore.sign(holder, data))
    now = datetime.now(UTC).replace(microsecond=0)
    nonce = os.urandom(16)
    bound = present(issued.der, ["name"], audience="11630100MB0000000X", nonce=nonce,
                    time=now, holder=signer)
    verifier = platform.verifier()
    expected = BindingExpectation(audience="11630100MB0000000X", nonce=nonce)
    _expect(verifier.verify(bound, binding=expected), Indication.PASSED, None)
    for wrong in (BindingExpectation("another-office", nonce),
                  BindingExpectation("11630100MB0000000X", os.urandom(16))):
        _expect(verifier.verify(bound, binding=wrong), Indication.FAILED,
                SubIndication.SIG_CONSTRAINTS_FAILURE)
    _expect(verifier.verify(bound, binding=expected, at=now + timedelta(minutes=10)),
            Indication.FAILED, SubIndication.SIG_CONSTRAINTS_FAILURE)
    unbound = present(issued.der, ["name"])
    _expect(verifier.verify(unbound, binding=expected), Indication.FAILED,
            SubIndication.SIG_CONSTRAINTS_FAILURE)
    stranger = platform.keystore.generate(ECDSA, key_name + "-x")
    forged = present(issued.der, ["name"], audience="11630100MB0000000X", nonce=nonce,
                     time=now, holder=HolderSigner(
                         ECDSA, lambda data: platform.keystore.sign(stranger, data)))
    _expect(verifier.verify(forged, binding=expected), Indication.FAILED,
            SubIndication.SIG_CRYPTO_FAILURE)


def test_office_lookup(platform: Platform, departments: Departments) -> None:
    """get/status of unknown identifiers raise typed errors."""
    office: CertificateOffice = platform.office
    with pytest.raises(CertlibError) as raised:
        office.get("1.2.156.3005.2.nothing")
    assert raised.value.code == "CERTIFICATE_NOT_FOUND"
