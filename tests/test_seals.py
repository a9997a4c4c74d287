"""Seal making and seal-use management on a real token and both databases: lifecycle,
policies, approvals, quotas, and that a refused use records nothing as a use."""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from asn1crypto import crl as asn1_crl
from asn1crypto import x509

from certlib import ses
from certlib.audit import Actor
from certlib.errors import InputError
from certlib.ids import uscc_with_check
from certlib.platform import Platform
from certlib.report import Indication, SubIndication
from certlib.seals import (
    ApprovalRequired,
    DocumentKind,
    QuotaExceeded,
    RequestState,
    SealPolicy,
    SealRecord,
    SealState,
    SealStateError,
    SealUseRefused,
)
from certlib.seals.verify import verify_document
from certlib.store.schema import seal_use_requests, seal_uses

OWNER = uscc_with_check("11630100MB0000077")
CLERK = Actor("operator", f"{OWNER}#1a")
OTHER_CLERK = Actor("operator", f"{OWNER}#3c")
DIRECTOR = Actor("operator", f"{OWNER}#2b")
STRANGER = Actor("operator", f"{uscc_with_check('11630100MB0000088')}#9")
PURPOSE = "关于2026年度预算的请示（示例）"


def _seal(platform: Platform, **policy: object) -> SealRecord:
    if not platform.authority.regions():
        platform.authority.init_region("630000", "青海省政务服务平台")
    settings: dict[str, object] = {"users": (f"department:{OWNER}",)} | policy
    return platform.seals.create(owner_uscc=OWNER, owner_name="西宁市示例局",
                                 region_code="630000", name="公章",
                                 policy=SealPolicy(**settings))  # type: ignore[arg-type]


def _uses(platform: Platform) -> int:
    with platform.store.reading() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(seal_uses))
                   .scalar_one())


def _data(n: int = 0) -> bytes:
    return f"公文正文 {n}".encode() * 10


def test_a_made_seal_is_a_verifiable_gbt38540_seal(fresh_platform: Platform) -> None:
    """The SESeal names the esID, the seal and its SM2 signer certificate, and verifies
    against the platform's trust; the seal maker is made once and audited."""
    record = _seal(fresh_platform)
    assert record.es_id.startswith("630000") and len(record.es_id) == 14
    assert record.state is SealState.ACTIVE
    parsed = ses.parse_seal(record.seal)
    assert (parsed.es_id, parsed.name, parsed.version) == (record.es_id, "公章", 4)
    assert record.ses_certificate in parsed.signer_certificates
    assert parsed.picture.data == record.picture and record.picture[:8] == b"\x89PNG\r\n\x1a\n"
    report = ses.verify_seal(record.seal, trust=fresh_platform.trust_material())
    assert report.indication is Indication.PASSED, report.checks
    second = _seal(fresh_platform)
    assert second.es_id != record.es_id
    assert ses.parse_seal(second.seal).maker_certificate == parsed.maker_certificate
    signer = x509.Certificate.load(record.ses_certificate)
    assert signer.public_key.algorithm == "ec"  # SM2 (an EC key on sm2p256v1)
    assert x509.Certificate.load(record.pdf_certificate).public_key.algorithm in ("ec", "rsa")
    methods = [r.method for r in fresh_platform.audit.query(object_id=record.es_id)]
    assert "seal.create" in methods
    assert fresh_platform.seals.export(record.es_id) == record.seal


def test_sealed_data_verifies_and_is_recorded(fresh_platform: Platform) -> None:
    """A detached SES signature: PASSED over the data, FAILED over other data; one use
    recorded with both digests, the purpose sealed at rest."""
    record = _seal(fresh_platform)
    sealed = fresh_platform.sealer.apply_data(record.es_id, _data(), actor=CLERK,
                                              purpose=PURPOSE)
    trust = fresh_platform.trust_material()
    good = verify_document(sealed.data, trust=trust, signed_data=_data(),
                           seals=fresh_platform.seals)
    assert good.format == "ses" and good.indication is Indication.PASSED, good.to_dict()
    bad = verify_document(sealed.data, trust=trust, signed_data=_data(1))
    assert bad.indication is Indication.FAILED
    assert bad.sub_indication is SubIndication.HASH_FAILURE
    [use] = fresh_platform.seal_desk.usage(es_id=record.es_id)
    assert use.document_digest == hashlib.sha256(_data()).hexdigest()
    assert use.sealed_digest == hashlib.sha256(sealed.data).hexdigest()
    assert (use.user, use.purpose, use.document_kind) == (CLERK.label, PURPOSE,
                                                          DocumentKind.DATA)
    with fresh_platform.store.reading() as connection:
        stored = connection.execute(sa.select(seal_uses.c.purpose)).scalar_one()
    assert PURPOSE.encode() not in bytes(stored)
    [audited] = fresh_platform.audit.query(method="seal.use")
    assert audited.objects == (record.es_id, f"sha256:{use.document_digest}")
    assert PURPOSE not in str(audited.to_dict())


def test_a_seal_must_chain_to_the_root_of_the_region_its_esid_names(
        fresh_platform: Platform) -> None:
    """With roots told apart by region, a seal of 630000 whose certificates chain to a root
    said to be 620000's is refused (NOT_AUTHORISED): one region's CA cannot make another
    region's seals."""
    record = _seal(fresh_platform)
    sealed = fresh_platform.sealer.apply_data(record.es_id, _data(), actor=CLERK,
                                              purpose=PURPOSE)
    trust = fresh_platform.trust_material()
    root = fresh_platform.authority.region("630000").root_certificate
    assert trust.anchor_regions[root] == "630000"
    assert verify_document(sealed.data, trust=trust, signed_data=_data()).indication is \
        Indication.PASSED
    trust.anchor_regions[root] = "620000"
    report = verify_document(sealed.data, trust=trust, signed_data=_data())
    assert (report.indication, report.sub_indication) == (Indication.FAILED,
                                                          SubIndication.NOT_AUTHORISED)
    failed = {c.name for _, signature in report.signatures for c in signature.checks
              if c.result.value == "FAILED"}
    assert {"signer-chain", "seal-maker-chain"} <= failed


@pytest.mark.parametrize("who, kind, message", [
    (STRANGER, DocumentKind.DATA, "may not apply"),
    (CLERK, DocumentKind.PDF, "may not be applied to pdf"),
])
def test_policy_refusals_record_no_use(fresh_platform: Platform, who: Actor,
                                       kind: DocumentKind, message: str) -> None:
    """A caller the policy does not name, or a document kind it does not allow: refused
    with a clear error, nothing recorded as a use, the refusal audited."""
    record = _seal(fresh_platform, document_kinds=(DocumentKind.DATA,))
    with pytest.raises(SealUseRefused, match=message):
        if kind is DocumentKind.DATA:
            fresh_platform.sealer.apply_data(record.es_id, _data(), actor=who, purpose="x")
        else:
            fresh_platform.sealer.apply_pdf(record.es_id, b"%PDF-1.7 not really", actor=who,
                                            purpose="x")
    assert _uses(fresh_platform) == 0
    assert [r.outcome for r in fresh_platform.audit.query(method="seal.use.refused")] == [
        "refused/SEAL_USE_REFUSED"]


def test_suspended_revoked_and_not_yet_valid_seals_are_refused(fresh_platform: Platform) -> None:
    """Suspend refuses uses until resume; revoke ends the seal, puts its certificates on the
    CRL and turns earlier seals' verification FAILED/REVOKED; a seal not valid yet is
    refused (one past its validity is refused by the same check)."""
    record = _seal(fresh_platform)
    sealed = fresh_platform.sealer.apply_data(record.es_id, _data(), actor=CLERK,
                                              purpose=PURPOSE)
    fresh_platform.seals.suspend(record.es_id, actor=DIRECTOR)
    with pytest.raises(SealUseRefused, match="suspended"):
        fresh_platform.sealer.apply_data(record.es_id, _data(1), actor=CLERK, purpose="x")
    suspended = verify_document(sealed.data, trust=fresh_platform.trust_material(),
                                signed_data=_data(), seals=fresh_platform.seals)
    assert suspended.indication is Indication.INDETERMINATE
    fresh_platform.seals.resume(record.es_id, actor=DIRECTOR)
    fresh_platform.sealer.apply_data(record.es_id, _data(2), actor=CLERK, purpose="x")
    fresh_platform.seals.revoke(record.es_id, "key_compromise", actor=DIRECTOR)
    with pytest.raises(SealUseRefused, match="revoked"):
        fresh_platform.sealer.apply_data(record.es_id, _data(3), actor=CLERK, purpose="x")
    with pytest.raises(SealStateError):
        fresh_platform.seals.resume(record.es_id, actor=DIRECTOR)
    assert _uses(fresh_platform) == 2
    revoked = verify_document(sealed.data, trust=fresh_platform.trust_material(),
                              signed_data=_data(), seals=fresh_platform.seals)
    assert revoked.indication is Indication.FAILED
    assert revoked.sub_indication is SubIndication.REVOKED
    crl = asn1_crl.CertificateList.load(fresh_platform.authority.current_crl("630000",
                                                                             "issuing"))
    serials = {entry["user_certificate"].native for entry in
               crl["tbs_cert_list"]["revoked_certificates"]}
    assert x509.Certificate.load(record.ses_certificate).serial_number in serials
    now = datetime.now(UTC)
    future = fresh_platform.seals.create(
        owner_uscc=OWNER, owner_name="西宁市示例局", region_code="630000", name="新章",
        valid_from=now + timedelta(days=1), valid_until=now + timedelta(days=30),
        policy=SealPolicy((f"department:{OWNER}",)))
    with pytest.raises(SealUseRefused, match="not valid now"):
        fresh_platform.sealer.apply_data(future.es_id, _data(), actor=CLERK, purpose="x")


def test_daily_quota_holds_under_concurrent_use(fresh_platform: Platform) -> None:
    """Eight callers at once against a quota of three: exactly three uses."""
    record = _seal(fresh_platform, daily_quota=3)
    start = threading.Barrier(8)

    def attempt(n: int) -> bool:
        start.wait()
        try:
            fresh_platform.sealer.apply_data(record.es_id, _data(n), actor=CLERK,
                                             purpose="x")
            return True
        except QuotaExceeded:
            return False

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(attempt, range(8)))
    assert outcomes.count(True) == 3
    assert _uses(fresh_platform) == 3
    with pytest.raises(QuotaExceeded):
        fresh_platform.sealer.apply_data(record.es_id, _data(9), actor=CLERK, purpose="x")


def test_second_person_approval(fresh_platform: Platform) -> None:
    """With approvers, each use needs an approved request for that exact document, from
    someone other than the requester; an approval is used once."""
    record = _seal(fresh_platform, approvers=(DIRECTOR.label, CLERK.label))
    desk = fresh_platform.seal_desk
    digest = hashlib.sha256(_data()).hexdigest()
    with pytest.raises(ApprovalRequired):
        fresh_platform.sealer.apply_data(record.es_id, _data(), actor=CLERK, purpose="x")
    request = desk.request(record.es_id, CLERK, DocumentKind.DATA, digest, PURPOSE)
    assert request.state is RequestState.PENDING
    with pytest.raises(SealUseRefused, match="second person"):
        desk.decide(request.id, CLERK, approve=True)
    with pytest.raises(SealUseRefused, match="may not approve"):
        desk.decide(request.id, OTHER_CLERK, approve=True)
    with pytest.raises(ApprovalRequired, match="pending"):
        fresh_platform.sealer.apply_data(record.es_id, _data(), actor=CLERK, purpose="x",
                                         request_id=request.id)
    approved = desk.decide(request.id, DIRECTOR, approve=True, note="同意")
    assert (approved.state, approved.approver, approved.note) == (
        RequestState.APPROVED, DIRECTOR.label, "同意")
    with pytest.raises(ApprovalRequired, match="another"):
        fresh_platform.sealer.apply_data(record.es_id, _data(1), actor=CLERK, purpose="x",
                                         request_id=request.id)
    with pytest.raises(ApprovalRequired, match="another"):
        fresh_platform.sealer.apply_data(record.es_id, _data(), actor=OTHER_CLERK,
                                         purpose="x", request_id=request.id)
    assert _uses(fresh_platform) == 0
    sealed = fresh_platform.sealer.apply_data(record.es_id, _data(), actor=CLERK,
                                              purpose="x", request_id=request.id)
    assert (sealed.use.approver, sealed.use.request_id) == (DIRECTOR.label, request.id)
    with pytest.raises(ApprovalRequired, match="used"):
        fresh_platform.sealer.apply_data(record.es_id, _data(), actor=CLERK, purpose="x",
                                         request_id=request.id)
    assert [r.state for r in desk.requests(record.es_id)] == [RequestState.USED]
    rejected = desk.request(record.es_id, CLERK, DocumentKind.DATA, digest, PURPOSE)
    desk.decide(rejected.id, DIRECTOR, approve=False)
    with pytest.raises(InputError, match="rejected already"):
        desk.decide(rejected.id, DIRECTOR, approve=True)
    with fresh_platform.store.reading() as connection:
        stored = connection.execute(sa.select(seal_use_requests.c.note)).scalars().all()
    assert all(note is None or "同意".encode() not in bytes(note) for note in stored)


@pytest.mark.parametrize("policy", [
    {"users": ()},
    {"users": ("nobody",)},
    {"document_kinds": ()},
    {"daily_quota": 0},
])
def test_bad_policies_make_no_seal(fresh_platform: Platform, policy: dict[str, object]) -> None:
    """An incomplete or malformed policy: InputError, and no seal is made."""
    with pytest.raises(InputError):
        _seal(fresh_platform, **policy)
    assert fresh_platform.seals.list() == []
