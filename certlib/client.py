"""A typed client of certd for department systems (gRPC over mutual TLS).

```python
from certlib.client import CertlibClient, ClientCredentials

credentials = ClientCredentials.from_files("dept.pem", "dept.key", "ca.pem")
with CertlibClient("certd.example:7443", credentials) as client:
    issued = client.issue("11630100MB0000011X", "resident-id-card", {...})
    report = client.verify(issued.der)
```

Failures are certlib errors: the daemon's `google.rpc.ErrorInfo` reason becomes the
error's `code`, and the call's request id is kept on it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self, cast

import grpc
from google.protobuf import timestamp_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from certlib.audit import AuditRecord
from certlib.errors import CertlibError, InputError, TrustError, UnavailableError
from certlib.report import Check, CheckResult, Indication, SubIndication, ValidationReport
from certsvc.v1 import (
    audit_service_pb2,
    audit_service_pb2_grpc,
    certificate_pb2,
    certificate_service_pb2,
    certificate_service_pb2_grpc,
    common_pb2,
    key_pb2,
    key_service_pb2,
    key_service_pb2_grpc,
    report_pb2,
    verification_service_pb2,
    verification_service_pb2_grpc,
)

_INPUT = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
          grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.FAILED_PRECONDITION,
          grpc.StatusCode.OUT_OF_RANGE}
_TRUST = {grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED,
          grpc.StatusCode.DATA_LOSS}
_UNAVAILABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.CANCELLED}


class RemoteInputError(InputError):
    """The daemon refused the request itself (INVALID_ARGUMENT, NOT_FOUND, ...)."""


class RemoteTrustError(TrustError):
    """The daemon refused the caller (PERMISSION_DENIED, UNAUTHENTICATED) or its data."""


class RemoteUnavailable(UnavailableError):
    """The daemon, or something it needs, is out of reach; retrying may help."""


class RemoteError(CertlibError):
    """Any other failure of the daemon (INTERNAL and the like)."""


@dataclass(frozen=True)
class ClientCredentials:
    """A department's TLS client certificate and key, and the CA bundle of the daemon."""

    certificate: bytes
    key: bytes
    ca: bytes

    @classmethod
    def from_files(cls, certificate: Path | str, key: Path | str, ca: Path | str) -> Self:
        """Read PEM files."""
        try:
            return cls(Path(certificate).read_bytes(), Path(key).read_bytes(),
                       Path(ca).read_bytes())
        except OSError as error:
            raise InputError(f"cannot read TLS client files: {error.strerror}") from None


@dataclass(frozen=True)
class RemoteCertificate:
    """A certificate as the daemon describes it."""

    identifier: str
    type_id: str
    issuer_uscc: str
    status: str
    status_list: str
    status_index: int
    der: bytes
    """The holder's DER certificate (issue, or the full view of get); else empty."""
    warnings: tuple[str, ...] = ()


def _error(failure: grpc.RpcError, request_id: str | None = None) -> CertlibError:
    call = cast(grpc.Call, failure)
    status = rpc_status.from_call(call)
    code = call.code()
    message = call.details() or code.name
    reason, request_id = _details(status, request_id)
    return _classify(code, reason or code.name, message, request_id)


def _details(status: status_pb2.Status | None,
             request_id: str | None) -> tuple[str | None, str | None]:
    reason = None
    for detail in (status.details if status is not None else []):
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            reason = info.reason
        request = error_details_pb2.RequestInfo()
        if detail.Unpack(request):
            request_id = request.request_id
    return reason, request_id


def _classify(code: grpc.StatusCode, reason: str, message: str,
              request_id: str | None) -> CertlibError:
    kind: type[CertlibError] = (
        RemoteInputError if code in _INPUT else RemoteTrustError if code in _TRUST
        else RemoteUnavailable if code in _UNAVAILABLE else RemoteError)
    error = kind(message, code=reason)
    error.request_id = request_id  # type: ignore[attr-defined]
    error.grpc_code = code  # type: ignore[attr-defined]
    return error


def item_error(item: common_pb2.ItemError) -> CertlibError:
    """The certlib error of one failed batch item."""
    status = status_pb2.Status.FromString(item.SerializeToString())
    reason, request_id = _details(status, None)
    code = next((c for c in grpc.StatusCode if c.value[0] == item.code),
                grpc.StatusCode.UNKNOWN)
    return _classify(code, reason or code.name, item.message, request_id)


def _timestamp(moment: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _moment(stamp: timestamp_pb2.Timestamp) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


def report_from_message(message: report_pb2.ValidationReport) -> ValidationReport:
    """A library ValidationReport from the daemon's message."""

    def sub(value: report_pb2.SubIndication.ValueType) -> SubIndication | None:
        if value == report_pb2.SUB_INDICATION_UNSPECIFIED:
            return None
        name = report_pb2.SubIndication.Name(value)
        return SubIndication(name.removeprefix("SUB_INDICATION_"))

    subject: dict[str, Any] = {}
    if message.HasField("subject"):
        s = message.subject
        subject = {
            "identifier": s.identifier, "type_code": s.type_code, "type": s.type_id,
            "issuer": {"uscc": s.issuer.removeprefix("issuers/"),
                       "name": s.issuer_display_name, "region": s.issuer_region_code},
            "valid_from": _moment(s.not_before_time).isoformat()
            if s.HasField("not_before_time") else None,
            "valid_until": _moment(s.not_after_time).isoformat()
            if s.HasField("not_after_time") else None,
            "issued_at": _moment(s.issue_time).isoformat()
            if s.HasField("issue_time") else None,
        }
    return ValidationReport(
        indication=Indication(report_pb2.Indication.Name(message.indication)
                              .removeprefix("INDICATION_")),
        sub_indication=sub(message.sub_indication),
        checks=[Check(check.name,
                      CheckResult(report_pb2.CheckResult.Name(check.result)
                                  .removeprefix("CHECK_RESULT_")),
                      check.detail, sub(check.sub_indication)) for check in message.checks],
        validation_time=_moment(message.validation_time),
        subject=subject, disclosed=dict(message.disclosed_fields),
        warnings=list(message.warnings))


def _certificate(message: certificate_pb2.Certificate,
                 warnings: Iterable[str] = ()) -> RemoteCertificate:
    status = certificate_pb2.CertificateStatus.Name(message.status)
    return RemoteCertificate(
        identifier=message.identifier, type_id=message.type_id,
        issuer_uscc=message.issuer.removeprefix("issuers/"),
        status=status.removeprefix("CERTIFICATE_STATUS_").lower(),
        status_list=message.status_list, status_index=message.status_index,
        der=message.der, warnings=tuple(warnings))


RECONNECT_BACKOFF_MAX_MS = 5000
"""The longest wait between reconnection attempts to an unreachable daemon."""


class CertlibClient:
    """Calls certd as one department, identified by its TLS client certificate."""

    def __init__(self, endpoint: str, credentials: ClientCredentials, *,
                 timeout: float = 30.0, server_name: str | None = None) -> None:
        # gRPC backs off up to 120 s between reconnects by default: a daemon that was down
        # for a moment would stay unreachable for minutes after it came back.
        options: list[tuple[str, str | int]] = [("grpc.max_reconnect_backoff_ms",
                                                 RECONNECT_BACKOFF_MAX_MS)]
        if server_name:
            options.append(("grpc.ssl_target_name_override", server_name))
        channel_credentials = grpc.ssl_channel_credentials(
            root_certificates=credentials.ca, private_key=credentials.key,
            certificate_chain=credentials.certificate)
        self.channel = grpc.secure_channel(endpoint, channel_credentials, options=options)
        self.timeout = timeout
        self.certificates = certificate_service_pb2_grpc.CertificateServiceStub(self.channel)
        self.verification = verification_service_pb2_grpc.VerificationServiceStub(
            self.channel)
        self.keys = key_service_pb2_grpc.KeyServiceStub(self.channel)
        self.audit = audit_service_pb2_grpc.AuditServiceStub(self.channel)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object | TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Close the channel."""
        self.channel.close()

    def _call(self, method: Any, request: Any) -> Any:
        request_id = uuid.uuid4().hex
        try:
            return method(request, timeout=self.timeout,
                          metadata=(("x-request-id", request_id),))
        except grpc.RpcError as failure:
            raise _error(failure, request_id) from None

    # -- certificates -------------------------------------------------------------------

    def issue(self, issuer_uscc: str, type_id: str, fields: Mapping[str, str], *,
              holder_public_key: bytes | None = None,
              request_id: str | None = None) -> RemoteCertificate:
        """Issue one certificate as department `issuer_uscc` (the caller)."""
        response = self._call(self.certificates.IssueCertificate,
                              self._issue_request(issuer_uscc, type_id, fields,
                                                  holder_public_key, request_id))
        return _certificate(response.certificate, response.warnings)

    @staticmethod
    def _issue_request(issuer_uscc: str, type_id: str, fields: Mapping[str, str],
                       holder_public_key: bytes | None,
                       request_id: str | None) -> certificate_service_pb2.IssueCertificateRequest:
        return certificate_service_pb2.IssueCertificateRequest(
            issuer=f"issuers/{issuer_uscc}", type_id=type_id,
            fields={key: str(value) for key, value in fields.items()},
            holder_public_key=holder_public_key or b"", request_id=request_id or "")

    def issue_batch(self, issuer_uscc: str, type_id: str,
                    items: Iterable[Mapping[str, str]]
                    ) -> list[RemoteCertificate | CertlibError]:
        """Issue many; each result is a certificate or the error of that item."""
        request = certificate_service_pb2.BatchIssueCertificatesRequest(requests=[
            self._issue_request(issuer_uscc, type_id, fields, None, uuid.uuid4().hex)
            for fields in items])
        response = self._call(self.certificates.BatchIssueCertificates, request)
        results: list[RemoteCertificate | CertlibError] = []
        for result in response.results:
            if result.HasField("response"):
                results.append(_certificate(result.response.certificate,
                                            result.response.warnings))
            else:
                results.append(item_error(result.error))
        return results

    def get(self, identifier: str, *, full: bool = False) -> RemoteCertificate:
        """A certificate's metadata (and, in the full view, the holder's DER)."""
        view = (certificate_service_pb2.CERTIFICATE_VIEW_FULL if full
                else certificate_service_pb2.CERTIFICATE_VIEW_BASIC)
        response = self._call(self.certificates.GetCertificate,
                              certificate_service_pb2.GetCertificateRequest(
                                  name=f"certificates/{identifier}", view=view))
        return _certificate(response.certificate)

    def revoke(self, identifier: str) -> RemoteCertificate:
        """Revoke a certificate this department issued."""
        return _certificate(self._call(
            self.certificates.RevokeCertificate, certificate_service_pb2.RevokeCertificateRequest(
                name=f"certificates/{identifier}")).certificate)

    def suspend(self, identifier: str) -> RemoteCertificate:
        """Suspend a certificate this department issued."""
        return _certificate(self._call(
            self.certificates.SuspendCertificate,
            certificate_service_pb2.SuspendCertificateRequest(
                name=f"certificates/{identifier}")).certificate)

    def resume(self, identifier: str) -> RemoteCertificate:
        """Resume a suspended certificate this department issued."""
        return _certificate(self._call(
            self.certificates.ResumeCertificate, certificate_service_pb2.ResumeCertificateRequest(
                name=f"certificates/{identifier}")).certificate)

    # -- verification ----------------------------------------------------------------------

    @staticmethod
    def _verify_request(data: bytes | str, at: datetime | None, audience: str | None,
                        nonce: bytes | None) -> verification_service_pb2.VerifyRequest:
        request = (verification_service_pb2.VerifyRequest(qr_text=data) if isinstance(data, str)
                   else verification_service_pb2.VerifyRequest(der=data))
        if at is not None:
            request.validation_time.CopyFrom(_timestamp(at))
        if audience is not None:
            request.holder_binding.audience = audience
            request.holder_binding.nonce = nonce or b""
        return request

    def verify(self, data: bytes | str, *, at: datetime | None = None,
               audience: str | None = None, nonce: bytes | None = None) -> ValidationReport:
        """Verify a certificate, presentation (DER) or QR text on the daemon."""
        response = self._call(self.verification.Verify,
                              self._verify_request(data, at, audience, nonce))
        return report_from_message(response.report)

    def verify_many(self, items: Iterable[bytes | str], *, batch_size: int = 100
                    ) -> Iterator[ValidationReport | CertlibError]:
        """Verify many items over one stream, `batch_size` per message, in order."""

        def batches() -> Iterator[verification_service_pb2.VerifyStreamRequest]:
            batch: list[verification_service_pb2.VerifyRequest] = []
            for item in items:
                batch.append(self._verify_request(item, None, None, None))
                if len(batch) == batch_size:
                    yield verification_service_pb2.VerifyStreamRequest(items=batch)
                    batch = []
            if batch:
                yield verification_service_pb2.VerifyStreamRequest(items=batch)

        try:
            for response in self.verification.VerifyStream(batches(), timeout=self.timeout * 10):
                for result in response.results:
                    if result.HasField("report"):
                        yield report_from_message(result.report)
                    else:
                        yield item_error(result.error)
        except grpc.RpcError as failure:
            raise _error(failure) from None

    def status(self, status_list: str, index: int) -> str:
        """The online status (`valid`, `revoked`, `suspended`, `unknown`) of one entry."""
        response = self._call(self.verification.GetStatus,
                              verification_service_pb2.GetStatusRequest(
                                  status_list=status_list, index=index))
        return str(certificate_pb2.CertificateStatus.Name(response.status)).removeprefix(
            "CERTIFICATE_STATUS_").lower()

    def status_list(self, list_id: int) -> bytes:
        """The current signed status list (CMS DER)."""
        response = self._call(self.verification.GetStatusList,
                              verification_service_pb2.GetStatusListRequest(
                                  name=f"statusLists/{list_id}"))
        return bytes(response.status_list.signed_list)

    # -- keys and audit ----------------------------------------------------------------------

    def list_keys(self) -> list[key_pb2.Key]:
        """Every key (administrators and auditors)."""
        keys: list[key_pb2.Key] = []
        token = ""
        while True:
            response = self._call(self.keys.ListKeys, key_service_pb2.ListKeysRequest(
                page_size=1000, page_token=token))
            keys.extend(response.keys)
            token = response.next_page_token
            if not token:
                return keys

    def create_key(self, name: str, algorithm: str) -> key_pb2.Key:
        """Generate a key in the HSM (administrators)."""
        key: key_pb2.Key = self._call(self.keys.CreateKey, key_service_pb2.CreateKeyRequest(
            key_id=name, algorithm=algorithm)).key
        return key

    def rotate_key(self, name: str) -> key_pb2.Key:
        """Make a new version of a key (administrators)."""
        key: key_pb2.Key = self._call(self.keys.RotateKey, key_service_pb2.RotateKeyRequest(
            name=f"keys/{name}")).key
        return key

    def disable_key(self, name: str) -> key_pb2.Key:
        """Stop a key from signing (administrators)."""
        key: key_pb2.Key = self._call(self.keys.DisableKey, key_service_pb2.DisableKeyRequest(
            name=f"keys/{name}")).key
        return key

    def destroy_key(self, name: str) -> int:
        """Delete a key for good (administrators); returns the versions destroyed."""
        return len(self._call(self.keys.DestroyKey, key_service_pb2.DestroyKeyRequest(
            name=f"keys/{name}")).destroyed_versions)

    def audit_records(self, *, actor: str | None = None, method: str | None = None,
                      object_id: str | None = None, limit: int = 1000) -> list[AuditRecord]:
        """Audit records in order (auditors)."""
        records: list[AuditRecord] = []
        token = ""
        while len(records) < limit:
            response = self._call(self.audit.QueryAuditRecords,
                                  audit_service_pb2.QueryAuditRecordsRequest(
                                      actor=actor or "", method=method or "",
                                      object=object_id or "",
                                      page_size=min(1000, limit - len(records)),
                                      page_token=token))
            records.extend(AuditRecord(
                seq=record.sequence, time=_moment(record.time), actor=record.actor,
                method=record.method, objects=tuple(record.objects), outcome=record.outcome,
                request_id=record.request_id or None, details=dict(record.details),
                previous_hash=record.previous_hash, record_hash=record.hash)
                for record in response.records)
            token = response.next_page_token
            if not token:
                break
        return records

    def verify_audit_chain(self) -> audit_service_pb2.VerifyAuditChainResponse:
        """Check the audit chain on the daemon (auditors, administrators)."""
        return self._call(  # type: ignore[no-any-return]
            self.audit.VerifyAuditChain, audit_service_pb2.VerifyAuditChainRequest())
