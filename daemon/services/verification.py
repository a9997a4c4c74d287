"""certsvc.v1.VerificationService."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import grpc

from certlib.audit import PendingRecord
from certlib.clock import utc_now
from certlib.errors import CertlibError
from certlib.report import ValidationReport
from certlib.status import parse_list_uri
from certlib.verify import BindingExpectation
from certsvc.v1 import (
    common_pb2,
    status_list_pb2,
    verification_service_pb2,
    verification_service_pb2_grpc,
)
from daemon import convert
from daemon.calls import call
from daemon.errors import RpcFailure, invalid, rich_status
from daemon.runtime import WorkerRuntime

_MAX_ITEM_BYTES = 64 * 1024


class VerificationService(verification_service_pb2_grpc.VerificationServiceServicer):
    """Verify certificates and presentations; answer status questions."""

    def __init__(self, runtime: WorkerRuntime) -> None:
        self.runtime = runtime

    def Verify(self, request: verification_service_pb2.VerifyRequest,
               context: grpc.ServicerContext) -> verification_service_pb2.VerifyResponse:
        """Verify one item and record the verification."""
        result = self._verify(request, "")
        self._record([result])
        return verification_service_pb2.VerifyResponse(report=convert.report(result))

    def VerifyStream(
        self, request_iterator: Iterator[verification_service_pb2.VerifyStreamRequest],
        context: grpc.ServicerContext,
    ) -> Iterator[verification_service_pb2.VerifyStreamResponse]:
        """Verify batches as they arrive; one audit transaction per batch."""
        limit = self.runtime.config.max_batch
        for batch in request_iterator:
            if len(batch.items) > limit:
                raise RpcFailure(grpc.StatusCode.INVALID_ARGUMENT, "BATCH_SIZE",
                                 f"a stream message holds at most {limit} items",
                                 field="items")
            results: list[verification_service_pb2.VerifyStreamResult] = []
            reports: list[ValidationReport] = []
            for index, item in enumerate(batch.items):
                try:
                    report = self._verify(item, f"items[{index}].")
                    reports.append(report)
                    results.append(verification_service_pb2.VerifyStreamResult(
                        index=index, report=convert.report(report)))
                except (CertlibError, RpcFailure) as error:
                    status = rich_status(error, call().request_id)
                    results.append(verification_service_pb2.VerifyStreamResult(
                        index=index, error=common_pb2.ItemError(
                            code=status.code, message=status.message,
                            details=status.details)))
            self._record(reports)
            yield verification_service_pb2.VerifyStreamResponse(batch_id=batch.batch_id,
                                                                 results=results)

    def _verify(self, request: verification_service_pb2.VerifyRequest,
                prefix: str) -> ValidationReport:
        kind = request.WhichOneof("content")
        if kind is None:
            raise invalid(f"{prefix}content", "give der or qr_text")
        data: bytes | str = request.der if kind == "der" else request.qr_text
        if not data or len(data) > _MAX_ITEM_BYTES:
            raise invalid(f"{prefix}{kind}", f"1 to {_MAX_ITEM_BYTES} bytes")
        binding = None
        if request.HasField("holder_binding"):
            expectation = request.holder_binding
            if not expectation.audience:
                raise invalid(f"{prefix}holder_binding.audience", "audience is required")
            max_age = (expectation.max_age.ToTimedelta() if expectation.HasField("max_age")
                       else timedelta(minutes=5))
            if not timedelta(0) < max_age <= timedelta(days=1):
                raise invalid(f"{prefix}holder_binding.max_age", "0 s to 1 day")
            binding = BindingExpectation(expectation.audience, expectation.nonce or None,
                                         max_age)
        at = (convert.moment(request.validation_time)
              if request.HasField("validation_time") else None)
        return self.runtime.verifier().verify(data, at=at, binding=binding)

    def _record(self, reports: list[ValidationReport]) -> None:
        """Every verification goes into the audit log (group-committed with other callers'):
        who, which certificate, the answer. If it cannot be written, the call fails."""
        current = call()
        self.runtime.audit_batcher.record_all([PendingRecord(
            actor=current.caller.actor, method="certificate.verify",
            objects=(str(report.subject["identifier"]),)
            if report.subject.get("identifier") else (),
            outcome=report.indication.value + (
                f"/{report.sub_indication.value}" if report.sub_indication else ""),
            request_id=current.request_id) for report in reports])

    def GetStatus(self, request: verification_service_pb2.GetStatusRequest,
                  context: grpc.ServicerContext) -> verification_service_pb2.GetStatusResponse:
        """The online status of one entry of one of this platform's lists."""
        if parse_list_uri(request.status_list) is None:
            raise invalid("status_list", "not a certlib status-list URI")
        if not 0 <= request.index < (1 << 31):
            raise invalid("index", "index out of range")
        answer = self.runtime.local_status_source.status(
            request.status_list, request.index, utc_now())
        return verification_service_pb2.GetStatusResponse(
            status=convert.certificate_status(answer.status),
            change_time=convert.timestamp(answer.changed_at),
            check_time=convert.timestamp(answer.checked_at), source=answer.source,
            detail=answer.detail)

    def GetStatusList(self, request: verification_service_pb2.GetStatusListRequest,
                      context: grpc.ServicerContext
                      ) -> verification_service_pb2.GetStatusListResponse:
        """The current signed status list (re-signed first if it changed)."""
        name = request.name
        if not name.startswith("statusLists/") or not name.removeprefix(
                "statusLists/").isdigit():
            raise invalid("name", "name must be statusLists/{id}")
        signed = self.runtime.publisher.current(int(name.removeprefix("statusLists/")))
        return verification_service_pb2.GetStatusListResponse(
            status_list=status_list_pb2.StatusList(
                name=name, uri=signed.uri, issuer=f"issuers/{signed.issuer_uscc}",
                size=131_072, number=signed.number,
                this_update_time=convert.timestamp(signed.this_update),
                next_update_time=convert.timestamp(signed.next_update),
                signed_list=signed.der))
