"""certsvc.v1.CertificateService."""

from __future__ import annotations

import grpc

from certlib.algorithms import load_public_key
from certlib.errors import CertlibError, InvalidKey
from certlib.issuance import IssuedCertificate
from certsvc.v1 import (
    certificate_pb2,
    certificate_service_pb2,
    certificate_service_pb2_grpc,
    common_pb2,
)
from daemon import convert
from daemon.calls import call
from daemon.errors import RpcFailure, invalid, rich_status
from daemon.runtime import WorkerRuntime

_MAX_FIELDS = 200
_MAX_FIELD_BYTES = 64 * 1024


def _uscc_of(issuer: str) -> str:
    if not issuer.startswith("issuers/") or len(issuer) != len("issuers/") + 18:
        raise invalid("issuer", "issuer must be issuers/{uscc} (18 characters)")
    return issuer.removeprefix("issuers/")


def identifier_of(name: str, field: str = "name") -> str:
    """The identifier in a certificates/{identifier} name."""
    if not name.startswith("certificates/") or not 20 < len(name) < 250:
        raise invalid(field, "name must be certificates/{identifier}")
    return name.removeprefix("certificates/")


def _denied(message: str) -> RpcFailure:
    return RpcFailure(grpc.StatusCode.PERMISSION_DENIED, "PERMISSION_DENIED", message)


class CertificateService(certificate_service_pb2_grpc.CertificateServiceServicer):
    """Issue certificates and change their status, as the calling department."""

    def __init__(self, runtime: WorkerRuntime) -> None:
        self.runtime = runtime

    # -- issuing ---------------------------------------------------------------------

    def IssueCertificate(self, request: certificate_service_pb2.IssueCertificateRequest,
                         context: grpc.ServicerContext
                         ) -> certificate_service_pb2.IssueCertificateResponse:
        """Issue one certificate."""
        return self._issue(request)

    def BatchIssueCertificates(
        self, request: certificate_service_pb2.BatchIssueCertificatesRequest,
        context: grpc.ServicerContext,
    ) -> certificate_service_pb2.BatchIssueCertificatesResponse:
        """Issue many; each item succeeds or fails on its own."""
        if not 0 < len(request.requests) <= self.runtime.config.max_batch:
            raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, "BATCH_SIZE",
                             f"a batch holds 1 to {self.runtime.config.max_batch} requests",
                             field="requests")
        results = []
        for index, item in enumerate(request.requests):
            try:
                response = self._issue(item)
                results.append(certificate_service_pb2.IssueCertificateResult(
                    index=index, response=response))
            except (CertlibError, RpcFailure) as error:
                current = call()
                if isinstance(error, RpcFailure) and (
                        error.status is grpc.StatusCode.PERMISSION_DENIED):
                    self.runtime.platform.audit.record(
                        actor=current.caller.actor, method=current.method,
                        outcome="PERMISSION_DENIED", request_id=current.request_id)
                status = rich_status(error, current.request_id)
                results.append(certificate_service_pb2.IssueCertificateResult(
                    index=index, error=common_pb2.ItemError(
                        code=status.code, message=status.message, details=status.details)))
        return certificate_service_pb2.BatchIssueCertificatesResponse(results=results)

    def _issue(self, request: certificate_service_pb2.IssueCertificateRequest
               ) -> certificate_service_pb2.IssueCertificateResponse:
        current = call()
        uscc = _uscc_of(request.issuer)
        if not request.type_id or len(request.type_id) > 100:
            raise invalid("type_id", "type_id is required")
        if uscc != current.caller.uscc:
            raise _denied("a department issues only in its own name")
        if not current.caller.may_issue(request.type_id):
            raise _denied(f"no issuer role for {request.type_id}")
        if len(request.fields) > _MAX_FIELDS or any(
                len(k) + len(v) > _MAX_FIELD_BYTES for k, v in request.fields.items()):
            raise invalid("fields", "too many or too large field values")
        if len(request.request_id) > 100:
            raise invalid("request_id", "request_id is at most 100 characters")
        if request.version < 0 or request.version > 999:
            raise invalid("version", "version is 1 to 999")
        if request.holder_public_key:
            try:
                load_public_key(request.holder_public_key)
            except InvalidKey as error:
                raise invalid("holder_public_key", error.message, error.code) from None
        office = self.runtime.platform.office
        issued: IssuedCertificate = office.issue(
            issuer_uscc=uscc, type_id=request.type_id, data=dict(request.fields),
            holder_key=request.holder_public_key or None, version=request.version or 1,
            actor=current.caller.actor, request_id=request.request_id or None)
        record = office.record(issued.identifier)
        return certificate_service_pb2.IssueCertificateResponse(
            certificate=convert.certificate(record, issued.der),
            warnings=list(issued.warnings))

    # -- reading and status ---------------------------------------------------------------

    def GetCertificate(self, request: certificate_service_pb2.GetCertificateRequest,
                       context: grpc.ServicerContext
                       ) -> certificate_service_pb2.GetCertificateResponse:
        """One certificate: metadata; the holder's DER too in the full view, to its issuer."""
        identifier = identifier_of(request.name)
        caller = call().caller
        office = self.runtime.platform.office
        own = self._owned(identifier)
        full = request.view == certificate_service_pb2.CERTIFICATE_VIEW_FULL
        if own is None and (full or "auditor" not in caller.roles):
            raise _denied("only the issuing department reads this certificate")
        record = office.record(identifier)
        if own is not None and not caller.may_issue(record.type_id):
            raise _denied(f"no issuer role for {record.type_id}")
        der = office.get(identifier).der if full else b""
        return certificate_service_pb2.GetCertificateResponse(
            certificate=convert.certificate(record, der))

    def RevokeCertificate(self, request: certificate_service_pb2.RevokeCertificateRequest,
                          context: grpc.ServicerContext
                          ) -> certificate_service_pb2.RevokeCertificateResponse:
        """Revoke for good."""
        return certificate_service_pb2.RevokeCertificateResponse(
            certificate=self._change(request.name, "revoke"))

    def SuspendCertificate(self, request: certificate_service_pb2.SuspendCertificateRequest,
                           context: grpc.ServicerContext
                           ) -> certificate_service_pb2.SuspendCertificateResponse:
        """Suspend until resumed or revoked."""
        return certificate_service_pb2.SuspendCertificateResponse(
            certificate=self._change(request.name, "suspend"))

    def ResumeCertificate(self, request: certificate_service_pb2.ResumeCertificateRequest,
                          context: grpc.ServicerContext
                          ) -> certificate_service_pb2.ResumeCertificateResponse:
        """Make a suspended certificate valid again."""
        return certificate_service_pb2.ResumeCertificateResponse(
            certificate=self._change(request.name, "resume"))

    def _owned(self, identifier: str) -> str | None:
        """The caller's USCC if the identifier names the caller as issuer."""
        uscc = call().caller.uscc
        parts = identifier.split(".")
        return uscc if len(parts) >= 8 and parts[6] == uscc else None

    def _change(self, name: str, verb: str) -> certificate_pb2.Certificate:
        identifier = identifier_of(name)
        current = call()
        if self._owned(identifier) is None:
            raise _denied("only the issuing department changes this certificate's status")
        office = self.runtime.platform.office
        record = office.record(identifier)
        if not current.caller.may_issue(record.type_id):
            raise _denied(f"no issuer role for {record.type_id}")
        action = {"revoke": office.revoke, "suspend": office.suspend,
                  "resume": office.resume}[verb]
        action(identifier, actor=current.caller.actor, request_id=current.request_id)
        return convert.certificate(office.record(identifier))
