"""The certsvc contract: checked-in code matches the .proto files, lint, and the stubs work.

The generated package `certsvc` is regenerated into a temporary directory and compared byte
for byte with the checked-in copy; `buf lint` judges the .proto files when buf is installed;
the enums mirror the library's; per-item errors have the wire form of `google.rpc.Status`;
docs/api.md covers every method; and a real gRPC server on 127.0.0.1 answers through the
generated stubs.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent import futures
from enum import Enum
from pathlib import Path

import grpc
import pytest
from google.protobuf import any_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import FileDescriptor
from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from google.protobuf.message import Message

from certlib import report, status
from certsvc.v1 import (
    audit_service_pb2,
    certificate_pb2,
    certificate_service_pb2,
    common_pb2,
    holder_service_pb2,
    key_pb2,
    key_service_pb2,
    report_pb2,
    seal_service_pb2,
    trust_service_pb2,
    use_service_pb2,
    verification_service_pb2,
    verification_service_pb2_grpc,
)
from hsm import keystore
from tests.conftest import PROJECT_ROOT

SCRIPT = PROJECT_ROOT / "scripts" / "gen_protos.py"
PROTOS = PROJECT_ROOT / "protos"
PACKAGE = PROJECT_ROOT / "certsvc"

SERVICES: dict[str, tuple[FileDescriptor, dict[str, tuple[bool, bool]]]] = {
    "CertificateService": (certificate_service_pb2.DESCRIPTOR, {
        "IssueCertificate": (False, False), "BatchIssueCertificates": (False, False),
        "GetCertificate": (False, False), "RevokeCertificate": (False, False),
        "SuspendCertificate": (False, False), "ResumeCertificate": (False, False)}),
    "VerificationService": (verification_service_pb2.DESCRIPTOR, {
        "Verify": (False, False), "VerifyStream": (True, True),
        "GetStatus": (False, False), "GetStatusList": (False, False)}),
    "KeyService": (key_service_pb2.DESCRIPTOR, {
        "CreateKey": (False, False), "GetKey": (False, False), "ListKeys": (False, False),
        "RotateKey": (False, False), "DisableKey": (False, False),
        "DestroyKey": (False, False)}),
    "AuditService": (audit_service_pb2.DESCRIPTOR, {
        "QueryAuditRecords": (False, False), "VerifyAuditChain": (False, False)}),
    "SealService": (seal_service_pb2.DESCRIPTOR, {
        name: (False, False) for name in (
            "CreateSeal", "GetSeal", "ListSeals", "SuspendSeal", "ResumeSeal", "RevokeSeal",
            "UpdateSealPolicy", "CreateSealUseRequest", "DecideSealUseRequest",
            "ListSealUseRequests", "ApplySeal", "ListSealUses", "VerifySealedDocument")}),
    "HolderService": (holder_service_pb2.DESCRIPTOR, {
        name: (False, False) for name in (
            "ListCertificates", "CreateGrant", "ListGrants", "RevokeGrant", "CreateDelegation",
            "ListDelegations", "RevokeDelegation", "ListUses", "ShowCertificate")}),
    "UseService": (use_service_pb2.DESCRIPTOR, {
        name: (False, False) for name in (
            "UseCertificate", "FetchForDuty", "PresentAsAgent", "VerifyShowing",
            "VerifyReceipt")}),
    "TrustService": (trust_service_pb2.DESCRIPTOR, {
        name: (False, False) for name in (
            "GetRegionTrustList", "GetNationalTrustList", "GetCrls")}),
}
"""Every service of certsvc.v1 with its methods and (client, server) streaming."""


def _gen(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)],
                          capture_output=True, text=True, check=False, timeout=300)


def _files(parent: Path) -> dict[str, bytes]:
    base = parent / "certsvc"
    return {path.relative_to(parent).as_posix(): path.read_bytes()
            for path in sorted(base.rglob("*"))
            if path.is_file() and "__pycache__" not in path.parts}


def _buf() -> str:
    beside = Path(sys.executable).parent / "buf"
    found = str(beside) if beside.is_file() else shutil.which("buf")
    if found is None:
        pytest.skip("buf is not installed (pip install buf-bin): the lint check cannot run")
    return found


# -- generated code ------------------------------------------------------------------------


def test_checked_in_code_matches_the_protos(tmp_path: Path) -> None:
    result = _gen("--out", tmp_path)
    assert result.returncode == 0, result.stderr
    generated, checked_in = _files(tmp_path), _files(PROJECT_ROOT)
    assert sorted(generated) == sorted(checked_in), (
        "run `python scripts/gen_protos.py`: the set of generated files differs")
    drifted = [name for name in generated if generated[name] != checked_in[name]]
    assert not drifted, f"run `python scripts/gen_protos.py`: {drifted} drifted"
    assert {"certsvc/py.typed", "certsvc/v1/report_pb2.pyi",
            "certsvc/v1/verification_service_pb2_grpc.pyi"} <= generated.keys()
    assert "certsvc/v1/report_pb2_grpc.py" not in generated, "service-less _pb2_grpc kept"


def test_check_mode_names_every_drifted_file(tmp_path: Path) -> None:
    shutil.copytree(PACKAGE, tmp_path / "certsvc",
                    ignore=shutil.ignore_patterns("__pycache__"))
    changed = tmp_path / "certsvc" / "v1" / "key_pb2.py"
    changed.write_bytes(changed.read_bytes().replace(b"KEY_STATE_ACTIVE", b"KEY_STATE_ACTIVF"))
    (tmp_path / "certsvc" / "v1" / "audit_pb2.pyi").unlink()
    (tmp_path / "certsvc" / "v1" / "handwritten.py").write_text("X = 1\n")
    result = _gen("--check", "--out", tmp_path)
    assert result.returncode == 1
    assert "differs: certsvc/v1/key_pb2.py" in result.stderr
    assert "missing: certsvc/v1/audit_pb2.pyi" in result.stderr
    assert "not generated: certsvc/v1/handwritten.py" in result.stderr
    assert "differs: certsvc/v1/key_pb2.pyi" not in result.stderr
    regenerate = _gen("--out", tmp_path)
    assert regenerate.returncode == 0, regenerate.stderr
    assert _files(tmp_path) == _files(PROJECT_ROOT)


def test_every_generated_module_imports_with_the_installed_runtimes() -> None:
    modules = sorted(path.relative_to(PROJECT_ROOT).with_suffix("").as_posix().replace("/", ".")
                     for path in (PACKAGE / "v1").glob("*_pb2*.py"))
    assert len(modules) == len(list((PROTOS / "certsvc" / "v1").glob("*.proto"))) + len(SERVICES)
    for name in modules:
        assert importlib.import_module(name).__name__ == name


# -- lint ------------------------------------------------------------------------------------


def test_protos_pass_buf_lint_and_format() -> None:
    buf = _buf()
    for command in ([buf, "lint"], [buf, "format", "--diff", "--exit-code"]):
        result = subprocess.run(command, cwd=PROTOS, capture_output=True, text=True,
                                check=False, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout == ""


def test_buf_configuration_enforces_comments_and_unspecified_zero_values(
        tmp_path: Path) -> None:
    buf = _buf()
    copy = tmp_path / "protos"
    shutil.copytree(PROTOS, copy)
    key_proto = copy / "certsvc" / "v1" / "key.proto"
    text = key_proto.read_text()
    text = text.replace("  // Output only. The version number, from 1.\n", "")
    text += "\n// Made up.\nenum Colour {\n  // Red.\n  COLOUR_RED = 0;\n}\n"
    key_proto.write_text(text)
    result = subprocess.run([buf, "lint"], cwd=copy, capture_output=True, text=True,
                            check=False, timeout=120)
    assert result.returncode != 0
    assert 'Field "version" should have a non-empty comment' in result.stdout
    assert 'should be suffixed with "_UNSPECIFIED"' in result.stdout


# -- the contract ------------------------------------------------------------------------


def test_services_have_exactly_the_agreed_methods() -> None:
    for service_name, (file, methods) in SERVICES.items():
        service = file.services_by_name[service_name]
        assert service.full_name == f"certsvc.v1.{service_name}"
        found = {method.name: (method.client_streaming, method.server_streaming)
                 for method in service.methods}
        assert found == methods
        for method in service.methods:
            assert method.input_type.name == f"{method.name}Request"
            assert method.output_type.name == f"{method.name}Response"


@pytest.mark.parametrize(("wrapper", "prefix", "library"), [
    (report_pb2.Indication, "INDICATION_", report.Indication),
    (report_pb2.SubIndication, "SUB_INDICATION_", report.SubIndication),
    (report_pb2.CheckResult, "CHECK_RESULT_", report.CheckResult),
    (certificate_pb2.CertificateStatus, "CERTIFICATE_STATUS_", status.CertificateStatus),
    (key_pb2.KeyState, "KEY_STATE_", keystore.KeyState),
    (key_pb2.Protection, "PROTECTION_", keystore.Protection),
])
def test_enums_mirror_the_library(wrapper: EnumTypeWrapper, prefix: str,
                                  library: type[Enum]) -> None:
    names = wrapper.keys()
    assert names[0] == f"{prefix}UNSPECIFIED"
    assert wrapper.Value(names[0]) == 0
    assert all(name.startswith(prefix) for name in names)
    assert [name.removeprefix(prefix) for name in names[1:]] == [m.name for m in library]


def _google_message(full_name: str) -> Message:
    for module in ("google.rpc.status_pb2", "google.rpc.error_details_pb2"):
        importlib.import_module(module)
    found = descriptor_pool.Default().FindMessageTypeByName(full_name)
    return message_factory.GetMessageClass(found)()


def test_item_error_has_the_wire_form_of_google_rpc_status() -> None:
    google_status = _google_message("google.rpc.Status")
    ours = common_pb2.ItemError.DESCRIPTOR
    assert [(f.name, f.number, f.type, f.is_repeated) for f in google_status.DESCRIPTOR.fields] \
        == [(f.name, f.number, f.type, f.is_repeated) for f in ours.fields]
    info = _google_message("google.rpc.ErrorInfo")
    json_format.ParseDict({"reason": "MISSING_FIELD", "domain": "certlib",
                           "metadata": {"field": "fields.name"}}, info)
    bad_request = _google_message("google.rpc.BadRequest")
    json_format.ParseDict({"fieldViolations": [
        {"field": "fields.name", "description": "is required"}]}, bad_request)
    details = [any_pb2.Any(), any_pb2.Any()]
    details[0].Pack(info)
    details[1].Pack(bad_request)
    item = common_pb2.ItemError(code=grpc.StatusCode.INVALID_ARGUMENT.value[0],
                                message="resident-id-card: field 'name': is required",
                                details=details)
    google_status.ParseFromString(item.SerializeToString())
    assert json_format.MessageToDict(google_status)["code"] == 3
    assert google_status.SerializeToString() == item.SerializeToString()
    assert common_pb2.ItemError.FromString(google_status.SerializeToString()) == item


def test_api_doc_covers_every_service_and_method() -> None:
    text = (PROJECT_ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    headings = {line.strip() for line in text.splitlines() if line.startswith("#")}
    for service_name, (_, methods) in SERVICES.items():
        assert f"## {service_name}" in headings
        for method in methods:
            assert f"### {service_name}.{method}" in headings, method


# -- the stubs on a real server ------------------------------------------------------------


class _EchoVerifier(verification_service_pb2_grpc.VerificationServiceServicer):
    """Answers with a report per item that only says what kind of input it saw."""

    def Verify(  # noqa: N802 (the generated servicer's method name)
        self, request: verification_service_pb2.VerifyRequest, context: grpc.ServicerContext,
    ) -> verification_service_pb2.VerifyResponse:
        return verification_service_pb2.VerifyResponse(report=self._report(request))

    def VerifyStream(  # noqa: N802
        self, request_iterator: Iterator[verification_service_pb2.VerifyStreamRequest],
        context: grpc.ServicerContext,
    ) -> Iterator[verification_service_pb2.VerifyStreamResponse]:
        for batch in request_iterator:
            results = []
            for index, item in enumerate(batch.items):
                if item.WhichOneof("content") is None:
                    results.append(verification_service_pb2.VerifyStreamResult(
                        index=index, error=common_pb2.ItemError(
                            code=grpc.StatusCode.INVALID_ARGUMENT.value[0],
                            message="nothing to verify")))
                else:
                    results.append(verification_service_pb2.VerifyStreamResult(
                        index=index, report=self._report(item)))
            yield verification_service_pb2.VerifyStreamResponse(
                batch_id=batch.batch_id, results=results)

    def GetStatus(  # noqa: N802
        self, request: verification_service_pb2.GetStatusRequest, context: grpc.ServicerContext,
    ) -> verification_service_pb2.GetStatusResponse:
        context.abort(grpc.StatusCode.NOT_FOUND, "no such status list")

    def GetStatusList(  # noqa: N802
        self, request: verification_service_pb2.GetStatusListRequest,
        context: grpc.ServicerContext,
    ) -> verification_service_pb2.GetStatusListResponse:
        context.abort(grpc.StatusCode.NOT_FOUND, "no such status list")

    @staticmethod
    def _report(item: verification_service_pb2.VerifyRequest) -> report_pb2.ValidationReport:
        kind = item.WhichOneof("content") or "nothing"
        return report_pb2.ValidationReport(
            indication=report_pb2.INDICATION_FAILED,
            sub_indication=report_pb2.SUB_INDICATION_FORMAT_FAILURE,
            checks=[report_pb2.Check(name="format", result=report_pb2.CHECK_RESULT_FAILED,
                                     detail=kind,
                                     sub_indication=report_pb2.SUB_INDICATION_FORMAT_FAILURE)])


@pytest.fixture
def verification_stub() -> Iterator[verification_service_pb2_grpc.VerificationServiceStub]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    verification_service_pb2_grpc.add_VerificationServiceServicer_to_server(
        _EchoVerifier(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield verification_service_pb2_grpc.VerificationServiceStub(channel)
    finally:
        channel.close()
        server.stop(grace=None)


def test_stubs_carry_unary_stream_and_error_calls(
        verification_stub: verification_service_pb2_grpc.VerificationServiceStub) -> None:
    answer = verification_stub.Verify(
        verification_service_pb2.VerifyRequest(qr_text="EC1:NOT-BASE45"), timeout=10)
    assert answer.report.indication == report_pb2.INDICATION_FAILED
    assert answer.report.checks[0].detail == "qr_text"

    sent = threading.Event()

    def batches() -> Iterator[verification_service_pb2.VerifyStreamRequest]:
        yield verification_service_pb2.VerifyStreamRequest(batch_id="a", items=[
            verification_service_pb2.VerifyRequest(der=b"\x30\x00"),
            verification_service_pb2.VerifyRequest(),
            verification_service_pb2.VerifyRequest(qr_text="EC1:")])
        yield verification_service_pb2.VerifyStreamRequest(batch_id="b", items=[
            verification_service_pb2.VerifyRequest(der=b"\x30\x00")])
        sent.set()

    responses = list(verification_stub.VerifyStream(batches(), timeout=10))
    assert sent.is_set()
    assert [response.batch_id for response in responses] == ["a", "b"]
    first = responses[0].results
    assert [result.index for result in first] == [0, 1, 2]
    assert [result.WhichOneof("result") for result in first] == ["report", "error", "report"]
    assert first[1].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert first[2].report.checks[0].detail == "qr_text"

    with pytest.raises(grpc.RpcError) as raised:
        verification_stub.GetStatus(
            verification_service_pb2.GetStatusRequest(status_list="statusLists/1", index=7),
            timeout=10)
    error = raised.value
    assert isinstance(error, grpc.Call)
    assert error.code() is grpc.StatusCode.NOT_FOUND
