"""Turning failures into gRPC statuses with google.rpc details (docs/api.md, Errors)."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from certlib.errors import CertlibError, InputError, KeyStoreError, TrustError, UnavailableError

DOMAIN = "certlib"

_BY_CODE: dict[str, grpc.StatusCode] = {
    "CERTIFICATE_NOT_FOUND": grpc.StatusCode.NOT_FOUND,
    "ISSUER_NOT_FOUND": grpc.StatusCode.NOT_FOUND,
    "REGION_NOT_FOUND": grpc.StatusCode.NOT_FOUND,
    "STATUS_LIST_NOT_FOUND": grpc.StatusCode.NOT_FOUND,
    "HSM_KEY_NOT_FOUND": grpc.StatusCode.NOT_FOUND,
    "HSM_KEY_EXISTS": grpc.StatusCode.ALREADY_EXISTS,
    "ISSUER_EXISTS": grpc.StatusCode.ALREADY_EXISTS,
    "REGION_EXISTS": grpc.StatusCode.ALREADY_EXISTS,
    "ISSUER_NOT_AUTHORISED": grpc.StatusCode.FAILED_PRECONDITION,
    "STATUS_CHANGE_REFUSED": grpc.StatusCode.FAILED_PRECONDITION,
    "HSM_KEY_NOT_USABLE": grpc.StatusCode.FAILED_PRECONDITION,
    "KEY_IN_USE": grpc.StatusCode.FAILED_PRECONDITION,
    "HSM_INVALID_REQUEST": grpc.StatusCode.INVALID_ARGUMENT,
    "HSM_UNSUPPORTED_ALGORITHM": grpc.StatusCode.INVALID_ARGUMENT,
    "HSM_UNAVAILABLE": grpc.StatusCode.UNAVAILABLE,
    "REQUEST_ID_REUSED": grpc.StatusCode.INVALID_ARGUMENT,
    "SEAL_NOT_FOUND": grpc.StatusCode.NOT_FOUND,
    "REQUEST_NOT_FOUND": grpc.StatusCode.NOT_FOUND,
    "SEAL_EXISTS": grpc.StatusCode.ALREADY_EXISTS,
    "SEAL_STATE": grpc.StatusCode.FAILED_PRECONDITION,
    "SEAL_USE_REFUSED": grpc.StatusCode.PERMISSION_DENIED,
    "APPROVAL_REQUIRED": grpc.StatusCode.FAILED_PRECONDITION,
    "QUOTA_EXCEEDED": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "GRANT_NOT_FOUND": grpc.StatusCode.NOT_FOUND,
    "DELEGATION_NOT_FOUND": grpc.StatusCode.NOT_FOUND,
    "GRANT_TOKEN_INVALID": grpc.StatusCode.INVALID_ARGUMENT,
    "GRANT_USED_UP": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "GRANT_REFUSED": grpc.StatusCode.FAILED_PRECONDITION,
    "DELEGATION_REFUSED": grpc.StatusCode.FAILED_PRECONDITION,
    "GRANT_AUDIENCE": grpc.StatusCode.PERMISSION_DENIED,
    "NO_DUTY": grpc.StatusCode.PERMISSION_DENIED,
}

_NO_RETRY = frozenset({"QUOTA_EXCEEDED", "GRANT_USED_UP"})
"""RESOURCE_EXHAUSTED reasons that waiting does not cure: no RetryInfo."""

_RESOURCES = {
    "CERTIFICATE_NOT_FOUND": "certsvc.v1.Certificate",
    "ISSUER_NOT_FOUND": "certsvc.v1.Issuer",
    "REGION_NOT_FOUND": "certsvc.v1.Region",
    "STATUS_LIST_NOT_FOUND": "certsvc.v1.StatusList",
    "HSM_KEY_NOT_FOUND": "certsvc.v1.Key",
    "HSM_KEY_EXISTS": "certsvc.v1.Key",
    "SEAL_NOT_FOUND": "certsvc.v1.Seal",
    "SEAL_EXISTS": "certsvc.v1.Seal",
    "REQUEST_NOT_FOUND": "certsvc.v1.SealUseRequest",
    "GRANT_NOT_FOUND": "certsvc.v1.Grant",
    "DELEGATION_NOT_FOUND": "certsvc.v1.Delegation",
}


class RpcFailure(Exception):
    """A failure the daemon itself decides (authentication, roles, request shape)."""

    def __init__(self, status: grpc.StatusCode, reason: str, message: str, *,
                 field: str | None = None, metadata: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.field = field
        self.metadata = metadata or {}


def invalid(field: str, message: str, reason: str = "INVALID_INPUT") -> RpcFailure:
    """INVALID_ARGUMENT naming the offending field."""
    return RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, reason, message, field=field)


def status_code_for(error: CertlibError) -> grpc.StatusCode:
    """The gRPC status code of a certlib error."""
    if error.code in _BY_CODE:
        return _BY_CODE[error.code]
    if error.code.startswith("TOKEN_"):
        return grpc.StatusCode.UNAUTHENTICATED
    if isinstance(error, UnavailableError):
        return grpc.StatusCode.UNAVAILABLE
    if isinstance(error, InputError):
        return grpc.StatusCode.INVALID_ARGUMENT
    if isinstance(error, KeyStoreError | TrustError):
        return grpc.StatusCode.INTERNAL
    return grpc.StatusCode.INTERNAL


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def rich_status(failure: CertlibError | RpcFailure, request_id: str,
                field_prefix: str = "") -> status_pb2.Status:
    """A google.rpc.Status carrying ErrorInfo, RequestInfo and what else applies."""
    if isinstance(failure, RpcFailure):
        code, reason, message = failure.status, failure.reason, failure.message
        field, metadata = failure.field, dict(failure.metadata)
    else:
        code, reason, message = status_code_for(failure), failure.code, failure.message
        field = getattr(failure, "field", None)
        field = f"fields.{field}" if isinstance(field, str) else None
        metadata = {}
        if code is grpc.StatusCode.INTERNAL:
            message = "internal error; quote the request id"
    if field:
        field = field_prefix + field
        metadata["field"] = field
    details = [
        _pack(error_details_pb2.ErrorInfo(reason=reason, domain=DOMAIN, metadata=metadata)),
        _pack(error_details_pb2.RequestInfo(request_id=request_id)),
    ]
    if code is grpc.StatusCode.INVALID_ARGUMENT and field:
        details.append(_pack(error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=field, description=message)])))
    if code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.ALREADY_EXISTS):
        details.append(_pack(error_details_pb2.ResourceInfo(
            resource_type=_RESOURCES.get(reason, ""), description=message)))
    if code is grpc.StatusCode.UNAVAILABLE or (
            code is grpc.StatusCode.RESOURCE_EXHAUSTED and reason not in _NO_RETRY):
        details.append(_pack(error_details_pb2.RetryInfo(
            retry_delay=duration_pb2.Duration(seconds=1))))
    return status_pb2.Status(code=getattr(code_pb2, code.name), message=message,
                             details=details)
