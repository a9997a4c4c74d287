"""certd over gRPC: every service as each department, error details, nothing written on
bad input. Runs against a real daemon on SQLite and on PostgreSQL."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from certlib.client import CertlibClient, RemoteInputError, RemoteTrustError
from certlib.report import Indication, SubIndication
from certsvc.v1 import (
    audit_service_pb2,
    audit_service_pb2_grpc,
    certificate_service_pb2,
    certificate_service_pb2_grpc,
    key_service_pb2,
    key_service_pb2_grpc,
    verification_service_pb2,
    verification_service_pb2_grpc,
)
from daemon.identity import POLICY_CHECK_SECONDS
from tests.daemon_support import MARKET, NOBODY, POLICE, RunningDaemon
from tests.samples import SAMPLES

PERSON = {key: (value.isoformat() if hasattr(value, "isoformat") else str(value))
          for key, value in SAMPLES["resident-id-card"].items() if key != "photo"}
COMPANY = {key: (value.isoformat() if hasattr(value, "isoformat") else str(value))
           for key, value in SAMPLES["business-licence"].items()}


def _issue(client: CertlibClient, **changes: str) -> Any:
    return client.issue(POLICE, "resident-id-card", {**PERSON, **changes})


def _status(call: Callable[[], object]) -> grpc.StatusCode | None:
    """The status code a raw stub call ends with (None for OK); for a batch, the code of
    its first item's error."""
    try:
        response = call()
    except grpc.RpcError as failure:
        return failure.code()
    results = getattr(response, "results", None)
    if results and results[0].HasField("error"):
        return next(c for c in grpc.StatusCode if c.value[0] == results[0].error.code)
    return None


def _reason(failure: grpc.RpcError) -> tuple[str, list[str]]:
    status = rpc_status.from_call(failure)  # type: ignore[arg-type]
    reason, fields = "", []
    assert status is not None, "no google.rpc.Status details"
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            reason = info.reason
        bad = error_details_pb2.BadRequest()
        if detail.Unpack(bad):
            fields = [violation.field for violation in bad.field_violations]
    return reason, fields


def test_issue_verify_status_change_through_the_daemon(daemon: RunningDaemon) -> None:
    """The whole life of a certificate over gRPC, seen by two departments."""
    with daemon.client("police") as police, daemon.client("market") as market:
        issued = _issue(police)
        assert issued.identifier.split(".")[6] == POLICE and issued.der
        report = market.verify(issued.der)
        assert report.indication is Indication.PASSED and "name" in report.disclosed
        assert police.get(issued.identifier).status == "valid"
        assert police.get(issued.identifier, full=True).der == issued.der
        assert police.status(issued.status_list, issued.status_index) == "valid"
        assert police.suspend(issued.identifier).status == "suspended"
        assert market.verify(issued.der).sub_indication is SubIndication.SUSPENDED
        assert police.resume(issued.identifier).status == "valid"
        assert police.revoke(issued.identifier).status == "revoked"
        assert market.verify(issued.der).sub_indication is SubIndication.REVOKED
        assert market.status(issued.status_list, issued.status_index) == "revoked"
        list_id = int(issued.status_list.rsplit(":", 1)[1])
        assert police.status_list(list_id).startswith(b"\x30")


def test_retries_with_one_request_id_issue_once(daemon: RunningDaemon) -> None:
    """The same request id returns the same certificate; another request under it fails."""
    request_id = uuid.uuid4().hex
    with daemon.client("police") as police:
        first = police.issue(POLICE, "resident-id-card", PERSON, request_id=request_id)
        again = police.issue(POLICE, "resident-id-card", PERSON, request_id=request_id)
        assert again.identifier == first.identifier
        with pytest.raises(RemoteInputError) as raised:
            police.issue(POLICE, "resident-id-card", {**PERSON, "name": "李四"},
                         request_id=request_id)
        assert raised.value.code == "REQUEST_ID_REUSED"


def test_batch_items_succeed_or_fail_alone(daemon: RunningDaemon) -> None:
    """A batch with a bad item: the good ones are issued, the bad one has its error."""
    with daemon.client("police") as police:
        results = police.issue_batch(POLICE, "resident-id-card",
                                     [PERSON, {**PERSON, "id_number": "123"}, PERSON])
    assert [type(r).__name__ for r in results] == ["RemoteCertificate", "RemoteInputError",
                                                   "RemoteCertificate"]
    assert getattr(results[1], "code", "") == "INVALID_FIELD_VALUE"


def test_verify_stream_answers_every_item_in_order(daemon: RunningDaemon) -> None:
    """Hundreds of items over one stream, in batches; garbage gets FORMAT_FAILURE."""
    with daemon.client("police") as police, daemon.client("market") as market:
        good = _issue(police).der
        items: list[bytes | str] = [good, b"garbage", good] * 70
        reports = list(market.verify_many(items, batch_size=50))
    assert len(reports) == len(items)
    for item, result in zip(items, reports, strict=True):
        assert not isinstance(result, Exception)
        expected = Indication.PASSED if item == good else Indication.FAILED
        assert result.indication is expected


# -- the authorisation matrix ------------------------------------------------------------

IDENTITIES = ("police", "market", "admin", "nobody")
ALLOWED: dict[str, set[str]] = {
    "IssueCertificate": {"police"},
    "BatchIssueCertificates": {"police"},
    "GetCertificate": {"police", "admin"},
    "RevokeCertificate": {"police"},
    "SuspendCertificate": {"police"},
    "ResumeCertificate": {"police"},
    "Verify": {"police", "market", "admin"},
    "VerifyStream": {"police", "market", "admin"},
    "GetStatus": {"police", "market", "admin"},
    "GetStatusList": {"police", "market", "admin"},
    "ListKeys": {"admin"},
    "GetKey": {"admin"},
    "CreateKey": {"admin"},
    "RotateKey": {"admin"},
    "DisableKey": {"admin"},
    "DestroyKey": {"admin"},
    "QueryAuditRecords": {"admin"},
    "VerifyAuditChain": {"admin"},
}


def _calls(channel: grpc.Channel, certificate: Any, key: str) -> dict[str, Callable[[], object]]:
    """One call per method, well-formed, as the daemon's first department would send it."""
    certs = certificate_service_pb2_grpc.CertificateServiceStub(channel)
    verification = verification_service_pb2_grpc.VerificationServiceStub(channel)
    keys = key_service_pb2_grpc.KeyServiceStub(channel)
    audit = audit_service_pb2_grpc.AuditServiceStub(channel)
    name = f"certificates/{certificate.identifier}"
    issue = certificate_service_pb2.IssueCertificateRequest(
        issuer=f"issuers/{POLICE}", type_id="resident-id-card", fields=PERSON)
    list_id = certificate.status_list.rsplit(":", 1)[1]
    return {
        "IssueCertificate": lambda: certs.IssueCertificate(issue, timeout=30),
        "BatchIssueCertificates": lambda: certs.BatchIssueCertificates(
            certificate_service_pb2.BatchIssueCertificatesRequest(requests=[issue]),
            timeout=30),
        "GetCertificate": lambda: certs.GetCertificate(
            certificate_service_pb2.GetCertificateRequest(name=name), timeout=30),
        "RevokeCertificate": lambda: certs.RevokeCertificate(
            certificate_service_pb2.RevokeCertificateRequest(name=name), timeout=30),
        "SuspendCertificate": lambda: certs.SuspendCertificate(
            certificate_service_pb2.SuspendCertificateRequest(name=name), timeout=30),
        "ResumeCertificate": lambda: certs.ResumeCertificate(
            certificate_service_pb2.ResumeCertificateRequest(name=name), timeout=30),
        "Verify": lambda: verification.Verify(
            verification_service_pb2.VerifyRequest(der=certificate.der), timeout=30),
        "VerifyStream": lambda: list(verification.VerifyStream(iter([
            verification_service_pb2.VerifyStreamRequest(items=[
                verification_service_pb2.VerifyRequest(der=certificate.der)])]), timeout=30)),
        "GetStatus": lambda: verification.GetStatus(verification_service_pb2.GetStatusRequest(
            status_list=certificate.status_list, index=certificate.status_index), timeout=30),
        "GetStatusList": lambda: verification.GetStatusList(
            verification_service_pb2.GetStatusListRequest(name=f"statusLists/{list_id}"),
            timeout=30),
        "ListKeys": lambda: keys.ListKeys(key_service_pb2.ListKeysRequest(), timeout=30),
        "GetKey": lambda: keys.GetKey(key_service_pb2.GetKeyRequest(name=f"keys/{key}"),
                                      timeout=30),
        "CreateKey": lambda: keys.CreateKey(key_service_pb2.CreateKeyRequest(
            key_id=f"{key}-{uuid.uuid4().hex[:6]}", algorithm="ed25519"), timeout=30),
        "RotateKey": lambda: keys.RotateKey(key_service_pb2.RotateKeyRequest(
            name=f"keys/{key}"), timeout=30),
        "DisableKey": lambda: keys.DisableKey(key_service_pb2.DisableKeyRequest(
            name=f"keys/{key}-missing"), timeout=30),
        "DestroyKey": lambda: keys.DestroyKey(key_service_pb2.DestroyKeyRequest(
            name=f"keys/{key}-missing"), timeout=30),
        "QueryAuditRecords": lambda: audit.QueryAuditRecords(
            audit_service_pb2.QueryAuditRecordsRequest(page_size=5), timeout=30),
        "VerifyAuditChain": lambda: audit.VerifyAuditChain(
            audit_service_pb2.VerifyAuditChainRequest(), timeout=30),
    }


def _channel(daemon: RunningDaemon, label: str) -> grpc.Channel:
    credentials = daemon.credentials(label)
    return grpc.secure_channel(daemon.listen, grpc.ssl_channel_credentials(
        root_certificates=credentials.ca, private_key=credentials.key,
        certificate_chain=credentials.certificate))


def test_authorisation_matrix(daemon: RunningDaemon) -> None:
    """Every method x every department: allowed, or exactly PERMISSION_DENIED."""
    with daemon.client("police") as police, daemon.client("admin") as admin:
        certificate = _issue(police)
        key = f"matrix-{uuid.uuid4().hex[:8]}"
        admin.create_key(key, "ed25519")
    unexpected = []
    for label in IDENTITIES:
        with _channel(daemon, label) as channel:
            for method, invoke in _calls(channel, certificate, key).items():
                code = _status(invoke)
                allowed = label in ALLOWED[method]
                if allowed and code in (grpc.StatusCode.PERMISSION_DENIED,
                                        grpc.StatusCode.UNAUTHENTICATED):
                    unexpected.append(f"{label} {method}: {code}")
                if not allowed and code is not grpc.StatusCode.PERMISSION_DENIED:
                    unexpected.append(f"{label} {method}: {code} (expected PERMISSION_DENIED)")
    assert unexpected == []
    denied = [r for r in _audit_records(daemon) if r.outcome == "PERMISSION_DENIED"]
    assert len(denied) >= sum(len(IDENTITIES) - len(v) for v in ALLOWED.values())


def _audit_records(daemon: RunningDaemon) -> list[Any]:
    with daemon.client("admin") as admin:
        return admin.audit_records(limit=100_000)


@pytest.mark.parametrize("case", ["no client certificate", "another CA", "expired"])
def test_rejected_at_the_handshake(daemon: RunningDaemon, case: str,
                                   tmp_path_factory: pytest.TempPathFactory) -> None:
    """Without a certificate the region issued and still valid, no call gets through."""
    credentials = daemon.credentials("police")
    if case == "no client certificate":
        channel_credentials = grpc.ssl_channel_credentials(root_certificates=credentials.ca)
    elif case == "another CA":
        other = _other_region_credentials(tmp_path_factory)
        channel_credentials = grpc.ssl_channel_credentials(
            root_certificates=credentials.ca, private_key=other.key,
            certificate_chain=other.certificate)
    else:
        expired = _expired_credentials(daemon)
        channel_credentials = grpc.ssl_channel_credentials(
            root_certificates=credentials.ca, private_key=expired.key,
            certificate_chain=expired.certificate)
    with grpc.secure_channel(daemon.listen, channel_credentials) as channel:
        stub = verification_service_pb2_grpc.VerificationServiceStub(channel)
        code = _status(lambda: stub.Verify(verification_service_pb2.VerifyRequest(der=b"x"),
                                           timeout=10))
    assert code is grpc.StatusCode.UNAVAILABLE


_other: list[Any] = []


def _other_region_credentials(factory: pytest.TempPathFactory) -> Any:
    """Client credentials from a different region's PKI (its own certd home)."""
    if not _other:
        from tests.daemon_support import run_certd

        home = factory.mktemp("other-region")
        assert run_certd(home, f"sqlite:///{home / 'db'}", "init").returncode == 0
        from certlib.client import ClientCredentials

        clients = home / "tls" / "clients"
        _other.append(ClientCredentials.from_files(clients / "police.pem",
                                                   clients / "police.key",
                                                   home / "tls" / "ca.pem"))
    return _other[0]


def _expired_credentials(daemon: RunningDaemon) -> Any:
    from tests.daemon_support import run_certd

    label = f"expired-{uuid.uuid4().hex[:6]}"
    result = run_certd(daemon.home, daemon.database_url, "client-cert", "--region", "630000",
                       "--uscc", POLICE, "--name", "西宁市公安局", "--label", label,
                       "--roles", "issuer:resident-id-card,issuer:driving-licence,verifier",
                       "--not-before", "2020-01-01T00:00:00+00:00",
                       "--not-after", "2021-01-01T00:00:00+00:00")
    assert result.returncode == 0, result.stderr
    return daemon.credentials(label)


def test_unknown_department_is_unauthenticated(daemon: RunningDaemon) -> None:
    """A valid certificate of a department the policy does not know: UNAUTHENTICATED."""
    from tests.daemon_support import run_certd

    label = f"stranger-{uuid.uuid4().hex[:6]}"
    issued = run_certd(daemon.home, daemon.database_url, "client-cert", "--region", "630000",
                       "--uscc", MARKET, "--name", "x", "--label", label, "--roles", "verifier")
    assert issued.returncode == 0
    # Remove the department from the policy again: its certificate is now of no one known.
    policy = daemon.home / "policy.toml"
    text = policy.read_text()
    policy.write_text(text.replace(f'[departments."{NOBODY}"]', f'[departments."{NOBODY}X"]'))
    try:
        time.sleep(POLICY_CHECK_SECONDS * 2)  # the workers notice the change
        with _channel(daemon, "nobody") as channel:
            stub = verification_service_pb2_grpc.VerificationServiceStub(channel)
            with pytest.raises(grpc.RpcError) as raised:
                stub.Verify(verification_service_pb2.VerifyRequest(der=b"x"), timeout=10)
        assert raised.value.code() is grpc.StatusCode.UNAUTHENTICATED
        assert _reason(raised.value)[0] == "UNAUTHENTICATED"
    finally:
        policy.write_text(text)


# -- bad input ------------------------------------------------------------------------------

BAD_REQUESTS: list[tuple[str, str, Any, str]] = [
    # (label, method, request, offending field)
    ("police", "IssueCertificate", certificate_service_pb2.IssueCertificateRequest(
        type_id="resident-id-card", fields=PERSON), "issuer"),
    ("police", "IssueCertificate", certificate_service_pb2.IssueCertificateRequest(
        issuer="issuers/not-a-uscc", type_id="resident-id-card", fields=PERSON), "issuer"),
    ("police", "IssueCertificate", certificate_service_pb2.IssueCertificateRequest(
        issuer=f"issuers/{POLICE}", fields=PERSON), "type_id"),
    ("police", "IssueCertificate", certificate_service_pb2.IssueCertificateRequest(
        issuer=f"issuers/{POLICE}", type_id="resident-id-card",
        fields={**PERSON, "birth_date": "not a date"}), "fields.birth_date"),
    ("police", "IssueCertificate", certificate_service_pb2.IssueCertificateRequest(
        issuer=f"issuers/{POLICE}", type_id="resident-id-card",
        fields={**PERSON, "no_such_field": "x"}), "fields.no_such_field"),
    ("police", "IssueCertificate", certificate_service_pb2.IssueCertificateRequest(
        issuer=f"issuers/{POLICE}", type_id="resident-id-card",
        fields={k: v for k, v in PERSON.items() if k != "name"}), "fields.name"),
    ("police", "IssueCertificate", certificate_service_pb2.IssueCertificateRequest(
        issuer=f"issuers/{POLICE}", type_id="resident-id-card",
        fields={**PERSON, "address": "长" * 40_000}), "fields"),
    ("police", "IssueCertificate", certificate_service_pb2.IssueCertificateRequest(
        issuer=f"issuers/{POLICE}", type_id="resident-id-card", fields=PERSON,
        holder_public_key=b"not a key"), ""),
    ("police", "IssueCertificate", certificate_service_pb2.IssueCertificateRequest(
        issuer=f"issuers/{POLICE}", type_id="resident-id-card", fields=PERSON,
        request_id="x" * 500), "request_id"),
    ("police", "BatchIssueCertificates",
     certificate_service_pb2.BatchIssueCertificatesRequest(), "requests"),
    ("police", "GetCertificate", certificate_service_pb2.GetCertificateRequest(
        name="certificate/wrong"), "name"),
    ("police", "RevokeCertificate", certificate_service_pb2.RevokeCertificateRequest(), "name"),
    ("police", "SuspendCertificate", certificate_service_pb2.SuspendCertificateRequest(
        name="x" * 1000), "name"),
    ("market", "Verify", verification_service_pb2.VerifyRequest(), "content"),
    ("market", "Verify", verification_service_pb2.VerifyRequest(der=b"x" * 100_000), "der"),
    ("market", "Verify", verification_service_pb2.VerifyRequest(
        qr_text="EC1:ABC", holder_binding=verification_service_pb2.HolderBindingExpectation(
            nonce=b"n")), "holder_binding.audience"),
    ("market", "GetStatus", verification_service_pb2.GetStatusRequest(
        status_list="http://elsewhere", index=1), "status_list"),
    ("market", "GetStatusList", verification_service_pb2.GetStatusListRequest(
        name="statusLists/x"), "name"),
    ("admin", "CreateKey", key_service_pb2.CreateKeyRequest(key_id="../bad",
                                                             algorithm="ed25519"), "key_id"),
    ("admin", "CreateKey", key_service_pb2.CreateKeyRequest(key_id="ok-name",
                                                             algorithm="rot13"), ""),
    ("admin", "GetKey", key_service_pb2.GetKeyRequest(name="keys"), "name"),
    ("admin", "ListKeys", key_service_pb2.ListKeysRequest(page_size=-1), "page_size"),
    ("admin", "QueryAuditRecords", audit_service_pb2.QueryAuditRecordsRequest(
        page_token="abc"), "page_token"),
]


def _invoke(channel: grpc.Channel, method: str, request: Any) -> Any:
    for stub in (certificate_service_pb2_grpc.CertificateServiceStub(channel),
                 verification_service_pb2_grpc.VerificationServiceStub(channel),
                 key_service_pb2_grpc.KeyServiceStub(channel),
                 audit_service_pb2_grpc.AuditServiceStub(channel)):
        if hasattr(stub, method):
            return getattr(stub, method)(request, timeout=30)
    raise AssertionError(method)


@pytest.mark.parametrize(("label", "method", "request_message", "field"), BAD_REQUESTS,
                         ids=[f"{m}-{i}" for i, (_, m, _, _) in enumerate(BAD_REQUESTS)])
def test_bad_input_is_invalid_argument_and_writes_nothing(
    daemon: RunningDaemon, label: str, method: str, request_message: Any, field: str
) -> None:
    """INVALID_ARGUMENT with ErrorInfo (and BadRequest naming the field); no row written,
    no audit record."""
    before = (daemon.count("certificates"), daemon.count("audit_records"))
    with _channel(daemon, label) as channel, pytest.raises(grpc.RpcError) as raised:
        _invoke(channel, method, request_message)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    reason, fields = _reason(raised.value)
    assert reason
    if field:
        assert fields and fields[0].startswith(field), (reason, fields)
    assert (daemon.count("certificates"), daemon.count("audit_records")) == before


def test_undecodable_request_is_invalid_argument(daemon: RunningDaemon) -> None:
    """Bytes that are not the request message: INVALID_ARGUMENT, nothing written."""
    before = daemon.count("audit_records")
    with _channel(daemon, "police") as channel:
        raw = channel.unary_unary("/certsvc.v1.CertificateService/IssueCertificate",
                                  request_serializer=lambda b: b,
                                  response_deserializer=lambda b: b)
        with pytest.raises(grpc.RpcError) as raised:
            raw(b"\xff\xff\xff\xff\x0f", timeout=10)
    assert raised.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert daemon.count("audit_records") == before


def test_oversized_message_is_refused(daemon: RunningDaemon) -> None:
    """A message beyond the receive limit: RESOURCE_EXHAUSTED before any handler runs."""
    with _channel(daemon, "market") as channel:
        stub = verification_service_pb2_grpc.VerificationServiceStub(channel)
        code = _status(lambda: stub.Verify(verification_service_pb2.VerifyRequest(
            der=b"x" * (5 << 20)), timeout=30))
    assert code is grpc.StatusCode.RESOURCE_EXHAUSTED


def test_permission_errors_carry_details(daemon: RunningDaemon) -> None:
    """Another department revoking: PERMISSION_DENIED with ErrorInfo through the client."""
    with daemon.client("police") as police, daemon.client("market") as market:
        issued = _issue(police)
        with pytest.raises(RemoteTrustError) as raised:
            market.revoke(issued.identifier)
    assert raised.value.code == "PERMISSION_DENIED"
    assert getattr(raised.value, "request_id", None)
