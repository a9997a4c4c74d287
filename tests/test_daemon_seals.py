"""SealService on a real certd over mutual TLS, on SQLite and PostgreSQL: making a seal,
two operators of one department (user and approver), applying, verifying, refusing."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import grpc
import pytest
from asn1crypto import pem, x509

from certlib.render import render_certificate_pdf
from certsvc.v1 import report_pb2, seal_pb2, seal_service_pb2, seal_service_pb2_grpc
from daemon.bootstrap import DEMO_DEPARTMENTS
from tests.daemon_support import POLICE, RunningDaemon, run_certd
from tests.test_daemon_api import _reason

DATA = "示例公文正文".encode() * 20


def _operator(daemon: RunningDaemon, label: str) -> str:
    text = (daemon.home / "tls" / "clients" / f"{label}.pem").read_bytes()
    first = next(der for kind, _, der in pem.unarmor(text, multiple=True))
    return f"operator:{POLICE}#{x509.Certificate.load(first).serial_number:x}"


@pytest.fixture(scope="module")
def director(daemon: RunningDaemon) -> str:
    """A second client certificate of the police department: another operator."""
    roles = ",".join(DEMO_DEPARTMENTS["police"][2])
    made = run_certd(daemon.home, daemon.database_url, "client-cert", "--region", "630000",
                     "--uscc", POLICE, "--name", "西宁市公安局", "--label", "police-director",
                     "--roles", roles)
    assert made.returncode == 0, made.stderr
    return "police-director"


@pytest.fixture
def stubs(daemon: RunningDaemon,
          director: str) -> Iterator[dict[str, seal_service_pb2_grpc.SealServiceStub]]:
    """Seal stubs per client: admin (seal maker), police (clerk), director, market."""
    clients = {label: daemon.client(label) for label in ("admin", "police", director,
                                                          "market")}
    try:
        yield {label: seal_service_pb2_grpc.SealServiceStub(client.channel)
               for label, client in clients.items()}
    finally:
        for client in clients.values():
            client.close()


def _code(call: object) -> tuple[grpc.StatusCode, str]:
    try:
        call()  # type: ignore[operator]
    except grpc.RpcError as failure:
        return failure.code(), _reason(failure)[0]
    raise AssertionError("the call succeeded")


def test_make_approve_apply_verify(daemon: RunningDaemon, director: str,
                                   stubs: dict[str, seal_service_pb2_grpc.SealServiceStub]
                                   ) -> None:
    """The seal maker makes a seal whose every use needs the director's approval; the clerk
    requests, the director approves, the clerk seals data and a PDF; another department
    verifies both; the keeper reads the uses."""
    clerk, approver = _operator(daemon, "police"), _operator(daemon, director)
    made = stubs["admin"].CreateSeal(seal_service_pb2.CreateSealRequest(
        owner=f"issuers/{POLICE}", owner_name="西宁市公安局", region="630000",
        display_name="公章", type=seal_pb2.SEAL_TYPE_OFFICIAL,
        policy=seal_pb2.SealPolicy(users=[clerk], approvers=[approver],
                                   document_kinds=[seal_pb2.DOCUMENT_KIND_DATA,
                                                   seal_pb2.DOCUMENT_KIND_PDF])),
        timeout=60).seal
    assert made.esl and made.picture_png and made.state == seal_pb2.SEAL_STATE_ACTIVE
    uses_before = daemon.count("seal_uses")
    apply = seal_service_pb2.ApplySealRequest(seal=made.name, purpose="示例",
                                              document_kind=seal_pb2.DOCUMENT_KIND_DATA,
                                              document=DATA)
    assert _code(lambda: stubs["police"].ApplySeal(apply, timeout=60)) == (
        grpc.StatusCode.FAILED_PRECONDITION, "APPROVAL_REQUIRED")
    request = stubs["police"].CreateSealUseRequest(seal_service_pb2.CreateSealUseRequestRequest(
        seal=made.name, document_kind=seal_pb2.DOCUMENT_KIND_DATA,
        document_sha256=hashlib.sha256(DATA).hexdigest(), purpose="示例"), timeout=60).request
    assert request.state == seal_pb2.SEAL_USE_REQUEST_STATE_PENDING
    assert _code(lambda: stubs["police"].DecideSealUseRequest(
        seal_service_pb2.DecideSealUseRequestRequest(name=request.name, approve=True),
        timeout=60)) == (grpc.StatusCode.PERMISSION_DENIED, "SEAL_USE_REFUSED")
    decided = stubs[director].DecideSealUseRequest(seal_service_pb2.DecideSealUseRequestRequest(
        name=request.name, approve=True, note="同意"), timeout=60).request
    assert (decided.state, decided.approver) == (seal_pb2.SEAL_USE_REQUEST_STATE_APPROVED,
                                                 approver)
    apply.request = request.name
    sealed = stubs["police"].ApplySeal(apply, timeout=60)
    assert sealed.use.approver == approver and sealed.use.user == clerk
    verified = stubs["market"].VerifySealedDocument(
        seal_service_pb2.VerifySealedDocumentRequest(document=sealed.document,
                                                     signed_data=DATA), timeout=60)
    assert (verified.format, verified.indication) == ("ses", report_pb2.INDICATION_PASSED)
    assert verified.signatures[0].report.subject.attributes["es_id"] == made.es_id
    stubs["police"].UpdateSealPolicy(seal_service_pb2.UpdateSealPolicyRequest(
        name=made.name, policy=seal_pb2.SealPolicy(
            users=[f"department:{POLICE}"], document_kinds=[seal_pb2.DOCUMENT_KIND_PDF])),
        timeout=60)
    letter = render_certificate_pdf("公函", "Letter", [("盖章处", "（盖章）")],
                                    identifier="示例", issuer="西宁市公安局", qr_payload=None)
    pdf = stubs[director].ApplySeal(seal_service_pb2.ApplySealRequest(
        seal=made.name, purpose="示例", document_kind=seal_pb2.DOCUMENT_KIND_PDF,
        document=letter, placement=seal_service_pb2.Placement(keyword="盖章处")), timeout=60)
    checked = stubs["market"].VerifySealedDocument(
        seal_service_pb2.VerifySealedDocumentRequest(document=pdf.document), timeout=60)
    assert (checked.format, checked.indication) == ("pdf", report_pb2.INDICATION_PASSED), [
        c.detail for s in checked.signatures for c in s.report.checks]
    uses = stubs["police"].ListSealUses(seal_service_pb2.ListSealUsesRequest(seal=made.name),
                                        timeout=60).uses
    assert [u.document_kind for u in uses] == [seal_pb2.DOCUMENT_KIND_PDF,
                                               seal_pb2.DOCUMENT_KIND_DATA]
    assert daemon.count("seal_uses") == uses_before + 2


def test_roles_and_bad_input_change_nothing(
        daemon: RunningDaemon, stubs: dict[str, seal_service_pb2_grpc.SealServiceStub]) -> None:
    """Departments without the role, malformed requests and a revoked seal: the right
    status, and no use recorded."""
    made = stubs["admin"].CreateSeal(seal_service_pb2.CreateSealRequest(
        owner=f"issuers/{POLICE}", owner_name="西宁市公安局", region="630000",
        display_name="合同专用章", type=seal_pb2.SEAL_TYPE_SPECIAL,
        policy=seal_pb2.SealPolicy(users=[f"department:{POLICE}"],
                                   document_kinds=[seal_pb2.DOCUMENT_KIND_DATA])),
        timeout=60).seal
    before = daemon.count("seal_uses")
    good = seal_service_pb2.ApplySealRequest(seal=made.name, purpose="示例",
                                             document_kind=seal_pb2.DOCUMENT_KIND_DATA,
                                             document=DATA)
    assert _code(lambda: stubs["market"].ApplySeal(good, timeout=60))[0] is (
        grpc.StatusCode.PERMISSION_DENIED)
    assert _code(lambda: stubs["police"].CreateSeal(seal_service_pb2.CreateSealRequest(),
                                                    timeout=60))[0] is (
        grpc.StatusCode.PERMISSION_DENIED)
    assert _code(lambda: stubs["market"].GetSeal(seal_service_pb2.GetSealRequest(
        name=made.name), timeout=60))[0] is grpc.StatusCode.PERMISSION_DENIED
    for bad in (seal_service_pb2.ApplySealRequest(seal="x", purpose="p", document=DATA,
                                                  document_kind=seal_pb2.DOCUMENT_KIND_DATA),
                seal_service_pb2.ApplySealRequest(seal=made.name, purpose="p", document=DATA),
                seal_service_pb2.ApplySealRequest(seal=made.name, purpose="",
                                                  document=DATA,
                                                  document_kind=seal_pb2.DOCUMENT_KIND_DATA),
                seal_service_pb2.ApplySealRequest(seal=made.name, purpose="p", document=b"",
                                                  document_kind=seal_pb2.DOCUMENT_KIND_DATA)):
        assert _code(lambda bad=bad: stubs["police"].ApplySeal(bad, timeout=60))[0] is (
            grpc.StatusCode.INVALID_ARGUMENT)
    assert _code(lambda: stubs["police"].GetSeal(seal_service_pb2.GetSealRequest(
        name="seals/63000099999999"), timeout=60)) == (grpc.StatusCode.NOT_FOUND,
                                                       "SEAL_NOT_FOUND")
    revoked = stubs["admin"].RevokeSeal(seal_service_pb2.RevokeSealRequest(
        name=made.name, reason="key_compromise"), timeout=60).seal
    assert revoked.state == seal_pb2.SEAL_STATE_REVOKED
    assert _code(lambda: stubs["police"].ApplySeal(good, timeout=60)) == (
        grpc.StatusCode.PERMISSION_DENIED, "SEAL_USE_REFUSED")
    assert _code(lambda: stubs["police"].ResumeSeal(seal_service_pb2.ResumeSealRequest(
        name=made.name), timeout=60)) == (grpc.StatusCode.FAILED_PRECONDITION, "SEAL_STATE")
    assert daemon.count("seal_uses") == before
